import dc from 'node:diagnostics_channel'

/**
 * The shutdown's events for APM and OpenTelemetry tools, named like Fastify core's own channels.
 * Nothing is built or published unless somebody subscribes.
 */
export const CHANNELS = {
  /**
   * { fastify, cause, inflight, timeout, delay, error } at the first moment of a shutdown (error: the uncaught one, if
   * that was the cause).
   */
  start: 'fastify-graceful.shutdown.start',
  /**
   * { fastify, phase: 'delay' | 'preDrain' | 'drain' | 'work' | 'close' | 'hooks', event: 'start' | 'end', elapsedMs }
   * at each boundary ('preDrain' and 'work' only when they have something to run or wait for).
   */
  phase: 'fastify-graceful.shutdown.phase',
  /**
   * tracing:fastify-graceful.shutdown.hook:start|end|asyncStart|asyncEnd around each hook: { fastify, name, limitMs,
   * phase, outcome, durationMs, error? }.
   */
  hook: 'fastify-graceful.shutdown.hook',
  /** { fastify, summary } once the summary is logged, before the exit. */
  end: 'fastify-graceful.shutdown.end'
} as const

export const startChannel = dc.channel(CHANNELS.start)
export const phaseChannel = dc.channel(CHANNELS.phase)
export const endChannel = dc.channel(CHANNELS.end)
export const hookChannel = dc.tracingChannel(CHANNELS.hook)

/**
 * Node rethrows a subscriber's exception on the next tick as an uncaught exception. While the plugin publishes, and
 * until those rethrows have run, a listener of ours takes them: a subscriber must never end or fail the shutdown.
 */
/**
 * One reporter per open window, oldest first: a window's rethrows run on the ticks queued by its publish, before the
 * tick that closes it, so the oldest open window is the one whose subscriber threw (each instance logs its own).
 */
const reporters: Array<(error: unknown) => void> = []
const swallow = (error: unknown): void => { reporters[0]!(error) }

function open (onError: (error: unknown) => void): void {
  if (reporters.push(onError) === 1) process.on('uncaughtException', swallow)
}

function close (): void {
  process.nextTick(() => {
    reporters.shift()
    if (reporters.length === 0) process.removeListener('uncaughtException', swallow)
  })
}

/** Runs `publish` (one or more channel events); what its subscribers throw goes to `onError` instead of crashing. */
export function isolated<T> (onError: (error: unknown) => void, publish: () => T): T {
  open(onError)
  try {
    return publish()
  } finally {
    close()
  }
}

/** The same window around events that a tracing channel publishes later, from a promise reaction; returns its end. */
export function openWindow (onError: (error: unknown) => void): () => void {
  open(onError)
  return close
}

/**
 * Whether an uncaught error now comes from a subscriber of the plugin's channels (the process listener leaves it to
 * us).
 */
export function fromSubscriber (): boolean {
  return reporters.length > 0
}
