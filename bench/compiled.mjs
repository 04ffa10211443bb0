// The benchmarks' servers run TypeScript the way the published package runs: compiled, types stripped and
// nothing added. tsx (which `npm start` and the tests use) compiles with esbuild's keepNames, which wraps every
// function created at run time in a call that redefines its `name`: a closure made per message pays for an
// Object.defineProperty that `tsc`'s output (dist/) never does (about 7% of the server's CPU in bench:store).
// This hook compiles each .ts file with esbuild as tsc would emit it for ES2022 (types removed, the
// `.ts` import specifiers kept: Node resolves them as files here), with inline source maps for profiles.
//
//   node --import ./bench/compiled.mjs bench/server.ts memory      (bench/processes.ts does this)
import { register } from 'node:module'

register('./compiled-hooks.mjs', import.meta.url)
