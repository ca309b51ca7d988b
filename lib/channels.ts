import dc from 'node:diagnostics_channel'

/**
 * The shutdown's events for APM and OpenTelemetry tools, named like Fastify core's own channels.
 * Nothing is built or published unless somebody subscribes.
 */
export const CHANNELS = {
  /** { fastify, cause, inflight, timeout, delay, error } at the first moment of a shutdown (error: the uncaught one, if that was the cause). */
  start: 'fastify-graceful.shutdown.start',
  /** { fastify, phase: 'delay' | 'drain' | 'close' | 'hooks', event: 'start' | 'end', elapsedMs } at each boundary. */
  phase: 'fastify-graceful.shutdown.phase',
  /** tracing:fastify-graceful.shutdown.hook:start|end|asyncStart|asyncEnd around each hook: { fastify, name, limitMs, outcome, durationMs, error? }. */
  hook: 'fastify-graceful.shutdown.hook',
  /** { fastify, summary } once the summary is logged, before the exit. */
  end: 'fastify-graceful.shutdown.end'
} as const

export const startChannel = dc.channel(CHANNELS.start)
export const phaseChannel = dc.channel(CHANNELS.phase)
export const endChannel = dc.channel(CHANNELS.end)
export const hookChannel = dc.tracingChannel(CHANNELS.hook)

/**
 * Node rethrows a subscriber's exception on the next tick as an uncaught exception. Publishing inside this window
 * lets the process-wide error listener tell those apart: a subscriber must never change the shutdown or its exit code.
 */
let publishing = 0

/** Runs `publish` (one or more channel events) with a window that stays open until the rethrows queued by it have run. */
export function isolated<T> (publish: () => T): T {
  publishing++
  try {
    return publish()
  } finally {
    process.nextTick(() => { publishing-- })
  }
}

/** Opens the same window around events that a tracing channel publishes later, from a promise reaction. */
export function openWindow (): () => void {
  publishing++
  return () => process.nextTick(() => { publishing-- })
}

/** Whether an uncaught error now comes from a subscriber of the plugin's channels. */
export function fromSubscriber (): boolean {
  return publishing > 0
}
