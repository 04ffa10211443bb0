import neostandard, { plugins } from 'neostandard'

// The Fastify ecosystem's style (neostandard) with TypeScript, plus the rules that catch unsafe code.
export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'coverage/**', '.tap/**', 'data/**', 'node_modules/**'] }),
  {
    files: ['**/*.ts', '**/*.js'],
    plugins: { n: plugins.n },
    rules: {
      'no-eval': 'error',
      'no-implied-eval': 'error',
      'no-new-func': 'error',
      'no-proto': 'error',
      'no-caller': 'error',
      'no-extend-native': 'error',
      'no-script-url': 'error',
      'n/no-deprecated-api': 'error',
      'n/handle-callback-err': 'error',
      // TypeBox declares a schema and its type under one name; TypeScript itself rejects real redeclarations.
      '@typescript-eslint/no-redeclare': 'off',
      // `void promise` marks a promise deliberately not awaited (its errors are handled where it is made).
      'no-void': ['error', { allowAsStatement: true }]
    }
  }
]
