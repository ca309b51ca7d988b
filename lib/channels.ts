import dc from 'node:diagnostics_channel'

/**
 * The shutdown's events for APM and OpenTelemetry tools, named like Fastify core's own channels.
 * Nothing is built or published unless somebody subscribes.
 */
export const CHANNELS = {
  /** { fastify, cause, inflight, timeout, delay, error } at the first moment of a shutdown (error: the uncaught one, if that was the cause). */
  start: 'fastify-graceful.shutdown.start',
  /** { fastify, phase: 'delay' | 'preDrain' | 'drain' | 'work' | 'close' | 'hooks', event: 'start' | 'end', elapsedMs } at each boundary ('preDrain' and 'work' only when they have something to run or wait for). */
  phase: 'fastify-graceful.shutdown.phase',
  /** tracing:fastify-graceful.shutdown.hook:start|end|asyncStart|asyncEnd around each hook: { fastify, name, limitMs, phase, outcome, durationMs, error? }. */
  hook: 'fastify-graceful.shutdown.hook',
  /** { fastify, summary } once the summary is logged, before the exit. */
  end: 'fastify-graceful.shutdown.end'
} as const

export const startChannel = dc.channel(CHANNELS.start)
export const phaseChannel = dc.channel(CHANNELS.phase)
export const endChannel = dc.channel(CHANNELS.end)
export const hookChannel = dc.tracingChannel(CHANNELS.hook)
