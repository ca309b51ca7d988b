import type { FastifyInstance } from 'fastify'
import type { Clock } from './clock.ts'
import type { Connections } from './connections.ts'
import type { Consumers } from './consumers.ts'
import { drain, type DrainResult } from './drain.ts'
import type { Gate } from './gate.ts'
import type { HookOutcome, Hooks, ShutdownCause } from './hooks.ts'
import type { Inflight } from './inflight.ts'
import type { Injects } from './injects.ts'
import type { LastCall } from './last-call.ts'
import type { OutsideRoutes } from './outside.ts'
import type { ResolvedOptions } from './options.ts'
import type { Reporter, ShutdownSummary } from './report.ts'
import { closeWebSockets } from './websockets.ts'
import { withTimeout } from './timeout.ts'
import type { Traffic } from './traffic.ts'
import type { Work, WorkResult } from './work.ts'

/** Kept free at the end of the budget for the summary line, the log flush and the exit itself. */
export function exitMargin (timeout: number): number {
  return Math.min(100, timeout * 0.05)
}

/**
 * Kept before that for Fastify's own close step and the other plugins' onClose hooks (a pool ends, a client quits),
 * which come after the shutdown hooks; half of it is theirs, the other half the summary's, should one of them hang.
 */
export function closeReserve (timeout: number): number {
  return Math.min(1000, timeout * 0.1)
}

/** How long the consumers cancelled at the drain deadline get to hand their work back before their close() runs. */
export const HAND_BACK_MS = 1000

export interface Sequence {
  readonly isShuttingDown: boolean
  /**
   * The signal path: serve while the traffic lasts, drain, the hooks, fastify.close() (Fastify's own close step, then
   * the other plugins' onClose hooks), the summary; the exit code.
   */
  shutdown (cause: ShutdownCause, error?: unknown): Promise<number>
  /** A signal or crash before onReady: close() would wait for the plugins still loading; the hooks so far run now. */
  duringStartup (cause: ShutdownCause, error?: unknown): Promise<number>
  /** app.drain(): the drain phase on its own; the instance stays open. */
  drain (): Promise<DrainResult>
  /**
   * app.close() began: the drain, the work and the shutdown hooks, from an onClose hook that runs ahead of Fastify's
   * own close step and so ahead of every other plugin's onClose hook (lib/close-order.ts).
   */
  beforeFastifyCloses (): Promise<void>
  /** Fastify's preClose: the close phase begins (all of the above first; here too if close() came before onReady). */
  preClose (): Promise<void>
  /** The plugin's own onClose: the close phase ended; on app.close(), the summary. */
  onClose (): Promise<void>
  /** ms left until the deadline of the shutdown under way. */
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
  injects: Injects
  traffic: Traffic
  consumers: Consumers
}

type Durations = Omit<ShutdownSummary['durationMs'], 'total'>

/** One shutdown, created at its first moment: what started it, its clock, its phases' times, what runs once. */
interface Shutdown {
  readonly cause: ShutdownCause
  readonly crashed: boolean
  readonly startedAt: number
  /** By when everything must be done (clock.now(), the exit margin kept). */
  deadline: number
  /** app.drain() had a clock for the drain alone: what follows it gets a whole timeout again, once. */
  clockRestarted: boolean
  /** While the process serves on after the signal; cut short when a drain is asked for. */
  serving: boolean
  readonly servingEnds: AbortController
  /** When admission would close but for the pre-drain hooks: the hooks' reserve is counted from there. */
  drainDueAt: number
  /** The drain's deadline, set when it starts: the hooks' reserve comes after it. */
  drainBy: number
  closeCalled: boolean
  closeFailed: boolean
  closeStartedAt: number | null
  /** Aborted when the close ends: until then, every connection left is closed at the drain deadline. */
  forceClose: AbortController
  readonly ms: Durations
  worked: WorkResult
  preDrained: Promise<HookOutcome[]> | null
  drained: Promise<DrainResult> | null
  hooksRan: Promise<HookOutcome[]> | null
  /** Started by a signal: the summary comes once fastify.close() is over, other plugins' onClose hooks included. */
  bySignal: boolean
  summarized: boolean
  readonly summary: Promise<ShutdownSummary>
  finish (summary: ShutdownSummary): void
}

/**
 * The one place that says what runs next: begin → serve while traffic lasts → drain → close → hooks → summary
 * Each step runs once, whichever way in (signal, app.drain(), app.close()); only a signal serves on after it.
 */
export function createSequence (
  fastify: FastifyInstance, options: ResolvedOptions, parts: Parts, clock: Clock
): Sequence {
  const { gate, inflight, hooks, connections, lastCall, reporter, work, outside, injects, traffic, consumers } = parts
  const deadlineFromNow = (): number => clock.now() + options.timeout - exitMargin(options.timeout)
  let current: Shutdown | null = null

  function begin (cause: ShutdownCause, error?: unknown): Shutdown {
    if (current !== null) return current
    let finish!: (summary: ShutdownSummary) => void
    const summary = new Promise<ShutdownSummary>(resolve => { finish = resolve })
    const startedAt = clock.now()
    const shutdown: Shutdown = current = {
      cause,
      crashed: error !== undefined,
      startedAt,
      deadline: deadlineFromNow(),
      clockRestarted: false,
      serving: false,
      servingEnds: new AbortController(),
      drainDueAt: startedAt,
      drainBy: 0,
      closeCalled: false,
      closeFailed: false,
      closeStartedAt: null,
      forceClose: new AbortController(),
      ms: { delay: 0, preDrain: 0, drain: 0, work: 0, close: 0, hooks: 0 },
      worked: { finished: 0, failed: 0, cut: 0 },
      preDrained: null,
      drained: null,
      hooksRan: null,
      bySignal: false,
      summarized: false,
      summary,
      finish
    }
    hooks.freeze(cause)
    outside.watch()
    gate.begin()
    reporter.start(cause, inflight.exchanges().length, error, options)
    // Consumers stop taking work at once; what they hold is waited for with the work, until the drain deadline.
    for (const { name, done } of consumers.pause(cause)) work.follow(done, `consumer "${name}": pause()`, fastify.log)
    return shutdown
  }

  function restartClock (shutdown: Shutdown): void {
    if (shutdown.cause !== 'drain' || shutdown.clockRestarted) return
    shutdown.clockRestarted = true
    shutdown.deadline = deadlineFromNow()
  }

  /** Runs one phase: announced on the phase channel, its time added to the summary's figure for it. */
  async function timed<T> (shutdown: Shutdown, phase: keyof Durations, run: () => Promise<T>): Promise<T> {
    const startedAt = clock.now()
    reporter.phase(phase, 'start')
    try {
      return await run()
    } finally {
      shutdown.ms[phase] += clock.now() - startedAt
      reporter.phase(phase, 'end')
    }
  }

  /** Nobody will stop sending on their own and nothing is asked to wait: the port may close at the signal. */
  function closesAtOnce (): boolean {
    return options.delay === 0 && !traffic.watched
  }

  /**
   * The one way the port closes: new connections are refused from here on (by the kernel). First of all, before
   * anything is announced: a connection that reaches the port while it closes would be reset.
   */
  function closePort (): void {
    connections.stopListening()
  }

  /**
   * Serve on, readiness failing and every response asking for Connection: close, until the balancers have stopped
   * sending (lib/traffic.ts): never less than `delay`, never more than `maxDelay`.
   */
  async function serve (shutdown: Shutdown): Promise<void> {
    if (closesAtOnce() || shutdown.drained !== null) return
    shutdown.serving = true
    gate.announce()
    for (const exchange of inflight.exchanges()) lastCall.askToClose(exchange)
    const { delay, maxDelay } = options
    const ended = await timed(shutdown, 'delay', () => traffic.handOver(delay, maxDelay, shutdown.servingEnds.signal))
    if (shutdown.serving) shutdown.drainDueAt = clock.now()
    shutdown.serving = false
    reporter.served(ended, clock.now() - shutdown.startedAt)
  }

  /** The hooks' reserve: at most half the budget left when admission would close but for the pre-drain hooks. */
  function hooksBudget (shutdown: Shutdown): number {
    return hooksDeadline(shutdown) - hooks.reserve(hooksDeadline(shutdown) - shutdown.drainDueAt)
  }

  /** The post-drain hooks end here: what follows them (Fastify's close, other plugins' onClose) gets the rest. */
  function hooksDeadline (shutdown: Shutdown): number {
    return shutdown.deadline - closeReserve(options.timeout)
  }

  /** The pre-drain hooks, at the start of any shutdown; they take from the drain's share, not the hooks' reserve. */
  function preDrainOnce (shutdown: Shutdown): Promise<HookOutcome[]> {
    if (!hooks.has('preDrain')) return Promise.resolve([])
    shutdown.preDrained ??= timed(shutdown, 'preDrain', () =>
      hooks.run(shutdown.cause, hooksBudget(shutdown), reporter.hook, 'preDrain'))
    return shutdown.preDrained
  }

  function farewell (): void {
    connections.goAway()
    closeWebSockets(fastify)
  }

  function drainOnce (shutdown: Shutdown): Promise<DrainResult> {
    if (shutdown.drained !== null) return shutdown.drained
    // A drain asked for while the process still serves after the signal: admission would have closed now.
    if (shutdown.serving) shutdown.drainDueAt = clock.now()
    shutdown.serving = false
    shutdown.servingEnds.abort()
    const start = (): Promise<DrainResult> => {
      closePort()
      // Admission: the next request on each open connection is served, as its last; nothing new.
      gate.lastCall()
      shutdown.drainBy = hooksBudget(shutdown)
      work.count()
      const waitForInjects = shutdown.cause !== 'close'
      const pastNoReturn = (): void => gate.close()
      const refused = (): number => gate.refused
      const { retryAfter } = options
      const drainParts = {
        clock, inflight, connections, lastCall, farewell, injects, retryAfter, waitForInjects, pastNoReturn, refused
      }
      return timed(shutdown, 'drain', () => drain(drainParts, shutdown.drainBy))
    }
    // Without pre-drain hooks, admission closes at once.
    shutdown.drained = (hooks.has('preDrain') ? preDrainOnce(shutdown).then(start) : start()).then(async result => {
      // Work that outlived its response (waitUntil) is waited for next, within the same drain deadline.
      await waitForWork(shutdown, shutdown.drainBy, shutdown.cause !== 'drain' || shutdown.closeCalled)
      return result
    })
    return shutdown.drained
  }

  async function waitForWork (shutdown: Shutdown, by: number, last: boolean): Promise<void> {
    const startedAt = clock.now()
    shutdown.worked = await work.waitFor(by, event => reporter.phase('work', event), last)
    shutdown.ms.work += clock.now() - startedAt
    if (shutdown.worked.cut === 0) return
    // Cut at the deadline: the consumers still busy hand their work back (a round trip to their queue) before their
    // close() runs, which would cut that round trip short; bounded, out of the hooks' time.
    consumers.cancel().then(reporter.cancelled)
    await withTimeout(consumers.idle(), Math.min(HAND_BACK_MS, (hooksDeadline(shutdown) - clock.now()) / 2), clock)
  }

  /**
   * The shutdown hooks, once: after the drain and the work, and before Fastify's own close step and every other
   * plugin's onClose hook, whatever the order of registration: a queue closes before the pool a plugin owns.
   */
  function hooksOnce (shutdown: Shutdown): Promise<HookOutcome[]> {
    shutdown.hooksRan ??= drainOnce(shutdown)
      // Work handed to waitUntil() after an app.drain() that ended early: waited for too, within this deadline.
      .then(() => waitForWork(shutdown, hooksBudget(shutdown), true))
      .then(() => timed(shutdown, 'hooks', () => hooks.run(shutdown.cause, hooksDeadline(shutdown), reporter.hook)))
    return shutdown.hooksRan
  }

  async function beforeFastifyCloses (): Promise<void> {
    const shutdown = begin('close')
    shutdown.closeCalled = true
    restartClock(shutdown)
    await hooksOnce(shutdown)
  }

  /**
   * fastify.close(): Fastify's own close step, then the other plugins' onClose hooks (their clients close), bounded by
   * the deadline: a client whose close hangs (its server gone) must not hold the exit.
   */
  async function closeFastify (shutdown: Shutdown): Promise<void> {
    if (shutdown.closeCalled) return
    try {
      // A rejection after the deadline is handled by the race itself: never unhandled.
      const by = shutdown.deadline - closeReserve(options.timeout) / 2
      if (!(await withTimeout(fastify.close(), by - clock.now(), clock)).done) {
        shutdown.closeFailed = true
        reporter.closeOverran()
        // The plugin's own onClose, which lets the process go, comes after the one that hangs: not waited for either.
        connections.letProcessGo()
      }
    } catch (err) {
      shutdown.closeFailed = true
      fastify.log.error({ err }, 'fastify.close() failed during the graceful shutdown')
    }
  }

  /** The summary, once everything it counts is over: on a signal after fastify.close(), else from onClose. */
  async function summarize (shutdown: Shutdown): Promise<ShutdownSummary> {
    const result = await drainOnce(shutdown)
    const outcomes = await hooksOnce(shutdown)
    if (!shutdown.summarized) {
      shutdown.summarized = true
      shutdown.finish(reporter.summary({
        cause: shutdown.cause,
        crashed: shutdown.crashed,
        closeFailed: shutdown.closeFailed,
        drain: result,
        refusedLater: gate.refused,
        hooks: [...await preDrainOnce(shutdown), ...outcomes],
        work: shutdown.worked,
        durationMs: { total: clock.now() - shutdown.startedAt, ...shutdown.ms, drain: result.durationMs }
      }))
    }
    return shutdown.summary
  }

  return {
    get isShuttingDown () {
      return current !== null
    },

    remaining () {
      // Asked for once a shutdown has run (the log flush before the exit): there is always one by then.
      return current!.deadline - clock.now()
    },

    async shutdown (cause, error) {
      traffic.begin(inflight.admitted)
      // With nothing to wait for before the drain, the port closes before anything else runs, the first log line
      // included: a connection that reaches it from then on is refused, none is caught in the accept queue and reset.
      if (closesAtOnce() && !hooks.has('preDrain')) closePort()
      const shutdown = begin(cause, error)
      shutdown.bySignal = true
      restartClock(shutdown)
      await Promise.all([serve(shutdown), preDrainOnce(shutdown)])
      await drainOnce(shutdown)
      await hooksOnce(shutdown)
      await closeFastify(shutdown)
      return (await summarize(shutdown)).exitCode
    },

    async duringStartup (cause, error) {
      // close() would wait for the plugins still loading: the hooks registered so far run now.
      const shutdown = begin(cause, error)
      await hooksOnce(shutdown)
      connections.letProcessGo()
      return (await summarize(shutdown)).exitCode
    },

    drain () {
      return drainOnce(begin('drain'))
    },

    beforeFastifyCloses,

    async preClose () {
      await beforeFastifyCloses()
      // The close phase spans Fastify's own close step: it starts here and ends in onClose.
      const shutdown = current!
      shutdown.closeStartedAt = clock.now()
      reporter.phase('close', 'start')
      connections.closeIdle()
      const { signal } = shutdown.forceClose
      clock.sleep(shutdown.drainBy - shutdown.closeStartedAt, signal).then(() => {
        if (!signal.aborted) connections.closeAll()
      })
    },

    async onClose () {
      const shutdown = begin('close')
      shutdown.forceClose.abort()
      connections.letProcessGo()
      await hooksOnce(shutdown)
      if (shutdown.closeStartedAt !== null) {
        shutdown.ms.close = clock.now() - shutdown.closeStartedAt
        reporter.phase('close', 'end')
      }
      // On a signal the summary waits for fastify.close() to be over (the other plugins' onClose hooks): not here.
      if (!shutdown.bySignal) await summarize(shutdown)
    }
  }
}
