import type { FastifyInstance } from 'fastify'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Connections } from './connections.ts'
import { drain, type DrainResult } from './drain.ts'
import type { Gate } from './gate.ts'
import type { HookOutcome, Hooks, ShutdownCause } from './hooks.ts'
import type { Inflight } from './inflight.ts'
import type { LastCall } from './last-call.ts'
import type { OutsideRoutes } from './outside.ts'
import type { ResolvedOptions } from './options.ts'
import type { Reporter, ShutdownSummary } from './report.ts'
import { closeWebSockets } from './websockets.ts'
import type { Work, WorkResult } from './work.ts'

/** Kept free at the end of the budget for the summary line, the log flush and the exit itself. */
export function exitMargin (timeout: number): number {
  return Math.min(100, timeout * 0.05)
}

export interface Sequence {
  readonly isShuttingDown: boolean
  /** The signal path: delay window, drain, then fastify.close() (which runs the hooks), then the exit code. */
  shutdown (cause: ShutdownCause, error?: unknown): Promise<number>
  /** A signal or crash before onReady: fastify.close() would wait for the plugins still loading, so the hooks registered so far run now. */
  duringStartup (cause: ShutdownCause, error?: unknown): Promise<number>
  /** app.drain(): the drain phase on its own; the instance stays open. */
  drain (): Promise<DrainResult>
  /** app.close(): the drain, from an onClose hook that runs before Fastify's own close step (avvio times preClose hooks, not onClose ones). */
  beforeClose (): Promise<void>
  /** Fastify's preClose: the close phase begins (the drain came first, from beforeClose; here only if close() came before onReady). */
  preClose (): Promise<void>
  /** Fastify's onClose: the shutdown hooks, then the summary. */
  onClose (): Promise<void>
  /** ms left until the deadline (the whole timeout before a shutdown). */
  remaining (): number
}

export interface Parts {
  gate: Gate
  inflight: Inflight
  hooks: Hooks
  connections: Connections
  lastCall: LastCall
  reporter: Reporter
  work: Work
  outside: Pick<OutsideRoutes, 'watch'>
}

/**
 * The one place that says what runs next: begin → delay window → drain → close → hooks → summary.
 * Each step runs once, whichever way in (signal, app.drain(), app.close()); only a signal waits out the delay.
 */
export function createSequence (fastify: FastifyInstance, options: ResolvedOptions, { gate, inflight, hooks, connections, lastCall, reporter, work, outside }: Parts): Sequence {
  let cause: ShutdownCause | null = null
  let crashed = false
  let closeFailed = false
  let closeCalled = false
  let startedAt = 0
  let deadline = 0
  let drainBy = 0
  let drained: Promise<DrainResult> | null = null
  let closeStartedAt = 0
  let delayMs = 0
  let early: Promise<HookOutcome[]> | null = null
  let preDrainMs = 0
  let worked: WorkResult = { finished: 0, failed: 0, cut: 0 }
  let workMs = 0
  const skipDelay = new AbortController()
  let forceClose: NodeJS.Timeout | undefined
  let finish!: (summary: ShutdownSummary) => void
  const finished = new Promise<ShutdownSummary>(resolve => { finish = resolve })

  function begin (why: ShutdownCause, error?: unknown): void {
    if (cause !== null) return
    cause = why
    crashed = error !== undefined
    startedAt = performance.now()
    deadline = startedAt + options.timeout - exitMargin(options.timeout)
    hooks.freeze(why)
    outside.watch()
    gate.begin()
    reporter.start(why, inflight.exchanges().length, error, options)
  }

  /** app.drain() set a clock for the drain alone: what follows it (close, or a signal's way to the exit) gets the whole timeout again, once. */
  let clockRestarted = false
  function restartClock (): void {
    if (cause !== 'drain' || clockRestarted) return
    clockRestarted = true
    deadline = performance.now() + options.timeout - exitMargin(options.timeout)
  }

  /** Keep serving, readiness failing and every response asking for Connection: close, until the delay is over. */
  async function delayWindow (): Promise<void> {
    if (options.delay === 0 || drained !== null) return
    reporter.phase('delay', 'start')
    gate.announce()
    for (const exchange of inflight.exchanges()) lastCall.askToClose(exchange)
    await sleep(options.delay, undefined, { signal: skipDelay.signal }).catch(() => {})
    delayMs = performance.now() - startedAt
    reporter.phase('delay', 'end')
  }

  function farewell (): void {
    connections.goAway()
    closeWebSockets(fastify)
  }

  /** The pre-drain hooks, at the start of any shutdown; bounded by the drain deadline so they cannot push the overall one. */
  function preDrainOnce (): Promise<HookOutcome[]> {
    if (early === null) {
      if (!hooks.has('preDrain')) return Promise.resolve([])
      const startedAt = performance.now()
      reporter.phase('preDrain', 'start')
      early = hooks.run(cause as ShutdownCause, deadline - hooks.reserve(deadline - startedAt), reporter.hook, 'preDrain').then(outcomes => {
        reporter.phase('preDrain', 'end')
        preDrainMs = performance.now() - startedAt
        return outcomes
      })
    }
    return early
  }

  /**
   * When admission would close but for the pre-drain hooks: the delay window's end (cut short now, if it still runs),
   * else the shutdown's start. The hooks' reserve is half the budget left from there at most, so the pre-drain hooks'
   * time comes out of the drain's share, never out of the reserve.
   */
  function drainDueAt (): number {
    if (delayMs > 0) return startedAt + delayMs
    return options.delay > 0 ? performance.now() : startedAt
  }

  function drainOnce (): Promise<DrainResult> {
    const dueAt = drainDueAt()
    skipDelay.abort()
    const start = (): Promise<DrainResult> => {
      // First of all: a connection that reaches the port while it closes is reset instead of refused.
      connections.stopListening()
      drainBy = deadline - hooks.reserve(deadline - dueAt)
      reporter.phase('drain', 'start')
      work.count()
      return drain({ gate, inflight, connections, lastCall, retryAfter: options.retryAfter, farewell }, drainBy)
    }
    // Without pre-drain hooks, admission closes at once, as it always did.
    drained ??= (hooks.has('preDrain') ? preDrainOnce().then(start) : start()).then(async result => {
      reporter.phase('drain', 'end')
      // Work that outlived its response (waitUntil) is waited for next, within the same drain deadline.
      const workStartedAt = performance.now()
      worked = await work.settle(drainBy, event => reporter.phase('work', event))
      workMs = performance.now() - workStartedAt
      return result
    })
    return drained
  }

  async function beforeClose (): Promise<void> {
    closeCalled = true
    begin('close')
    restartClock()
    await drainOnce()
  }

  return {
    get isShuttingDown () {
      return cause !== null
    },

    remaining () {
      return cause === null ? options.timeout : deadline - performance.now()
    },

    async shutdown (why, error) {
      // With nothing to wait for before the drain, the port closes before anything else runs, the first log line
      // included: a connection that reaches it from then on is refused, none is caught in the accept queue and reset.
      if (options.delay === 0 && !hooks.has('preDrain')) connections.stopListening()
      begin(why, error)
      restartClock()
      await Promise.all([delayWindow(), preDrainOnce()])
      await drainOnce()
      if (!closeCalled) {
        try {
          await fastify.close()
        } catch (err) {
          closeFailed = true
          fastify.log.error({ err }, 'fastify.close() failed during the graceful shutdown')
        }
      }
      const summary = await finished
      return closeFailed ? 1 : summary.exitCode
    },

    async duringStartup (why, error) {
      begin(why, error)
      await this.onClose()
      return (await finished).exitCode
    },

    drain () {
      begin('drain')
      return drainOnce()
    },

    beforeClose,

    async preClose () {
      await beforeClose()
      closeStartedAt = performance.now()
      reporter.phase('close', 'start')
      connections.closeIdle()
      forceClose = setTimeout(connections.closeAll, drainBy - closeStartedAt)
    },

    async onClose () {
      clearTimeout(forceClose)
      connections.release()
      begin('close')
      const result = await drainOnce()
      const hooksStartedAt = performance.now()
      if (closeStartedAt !== 0) reporter.phase('close', 'end')
      closeStartedAt ||= hooksStartedAt
      reporter.phase('hooks', 'start')
      const outcomes = await hooks.run(cause as ShutdownCause, deadline, reporter.hook)
      reporter.phase('hooks', 'end')
      const endedAt = performance.now()
      finish(reporter.summary({
        cause: cause as ShutdownCause,
        crashed,
        closeFailed,
        drain: result,
        refusedLater: gate.refused,
        hooks: [...await preDrainOnce(), ...outcomes],
        work: worked,
        durationMs: {
          total: endedAt - startedAt,
          delay: delayMs,
          preDrain: preDrainMs,
          drain: result.durationMs,
          work: workMs,
          close: hooksStartedAt - closeStartedAt,
          hooks: endedAt - hooksStartedAt
        }
      }))
    }
  }
}
