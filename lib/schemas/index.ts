export * from './entities.ts'
export * from './frames.ts'
export * from './rest.ts'
export * from './server-frames.ts'
