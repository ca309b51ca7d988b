// Types for require('fastify-graceful') in CommonJS TypeScript (module node16/nodenext): module.exports is the
// plugin, with the named exports on it. Everything is taken from the types emitted for the ES module.
import type * as Types from '../dist/index.js' with { 'resolution-mode': 'import' }

type Plugin = typeof Types.fastifyGraceful

declare function fastifyGraceful (...args: Parameters<Plugin>): ReturnType<Plugin>

declare namespace fastifyGraceful {
  export type DrainResult = Types.DrainResult
  export type FastifyGracefulOptions = Types.FastifyGracefulOptions
  export type HealthOptions = Types.HealthOptions
  export type ShutdownCause = Types.ShutdownCause
  export type ShutdownConsumer = Types.ShutdownConsumer
  export type ShutdownConsumerOptions = Types.ShutdownConsumerOptions
  export type ShutdownHook = Types.ShutdownHook
  export type ShutdownHookContext = Types.ShutdownHookContext
  export type ShutdownHookOptions = Types.ShutdownHookOptions
  export type ShutdownHookPhase = Types.ShutdownHookPhase
  export type ShutdownSignal = Types.ShutdownSignal
  export type ShutdownSummary = Types.ShutdownSummary
  export type WorkResult = Types.WorkResult
  const plugin: Plugin
  export { plugin as default, plugin as fastifyGraceful }
}

export = fastifyGraceful
