import type { FastifyInstance } from 'fastify'
import type { Clock } from './clock.ts'
import type { Connections } from './connections.ts'
import type { Consumers } from './consumers.ts'
import { drain as drainRequests, type DrainResult } from './drain.ts'
import type { Gate } from './gate.ts'
import type { HookOutcome, Hooks, ShutdownCause } from './hooks.ts'
import type { Inflight } from './inflight.ts'
import type { Injects } from './injects.ts'
import type { LastCall } from './last-call.ts'
import type { OutsideRoutes } from './outside.ts'
import type { Phase, Progress } from './phase.ts'
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

export interface Sequence extends Progress {
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

/** A moment the run waits for, or one it lets others wait for: released once, the first value kept. */
interface Point<T = void> {
  readonly reached: Promise<T>
  readonly released: boolean
  release (value: T): void
}

function point<T = void> (): Point<T> {
  let settle!: (value: T) => void
  const reached = new Promise<T>(resolve => { settle = resolve })
  const made = {
    reached,
    released: false,
    release (value: T) {
      made.released = true
      settle(value)
    }
  }
  return made
}

const never = (): Promise<never> => new Promise(() => {})

/** How a signal's shutdown closes: fastify.close() after onReady; before it, close() would wait for loading plugins. */
type SignalledAt = 'ready' | 'startup'

/** One shutdown, created at its first moment: what started it, where it stands, its clock, its phases' times. */
interface Shutdown {
  readonly cause: ShutdownCause
  readonly crashed: boolean
  readonly startedAt: number
  phase: Phase
  /** By when everything must be done (on the clock, the exit margin kept). */
  deadline: number
  /** app.drain() had a clock for the drain alone: what follows it gets a whole timeout again, once. */
  clockRestarted: boolean
  /** Aborted when a drain is asked for while the process still serves after the signal. */
  readonly servingEnds: AbortController
  /** When admission would close but for the pre-drain hooks: the hooks' reserve is counted from there. */
  drainDueAt: number
  /** The drain's deadline, set when it starts: the hooks' reserve comes after it. */
  drainBy: number
  closeCalled: boolean
  closeFailed: boolean
  closeStartedAt: number | null
  /** Aborted when the close ends: until then, every connection left is closed at the drain deadline. */
  readonly forceClose: AbortController
  readonly ms: Durations
  worked: WorkResult
  preDrained: HookOutcome[]
  /** The run, start to end: the summary, or the error that ended it (set as the run starts). */
  ended: Promise<ShutdownSummary>
  // The points the run and Fastify's hooks meet at.
  /** The drain and its work are over. */
  readonly drained: Point<DrainResult>
  /** What app.drain() answers, the same to every call. */
  drainAnswer: Promise<DrainResult> | null
  /** After app.drain(), the run waits here for close() or a signal. */
  readonly closeAsked: Point
  /** A signal came: on it, the run closes Fastify itself and the summary waits for that. */
  readonly signalled: Point<SignalledAt>
  /** The shutdown hooks have run: Fastify's own close step may go on. */
  readonly hooksDone: Point
  /** The plugin's own onClose ran: on app.close(), Fastify's close step is over. */
  readonly fastifyClosed: Point
}

/**
 * The one place that says what runs next: begin → serve while traffic lasts → drain → work → hooks → close → summary,
 * in one run per instance, whichever way it began (signal, app.drain(), app.close()); only a signal serves on.
 */
export function createSequence (
  fastify: FastifyInstance, options: ResolvedOptions, parts: Parts, clock: Clock
): Sequence {
  const { gate, inflight, hooks, connections, lastCall, reporter, work, outside, injects, traffic, consumers } = parts
  const deadlineFromNow = (): number => clock.now() + options.timeout - exitMargin(options.timeout)
  let current: Shutdown | null = null

  /** The shutdown begins: its first moment, then its run, started once. */
  function begin (cause: ShutdownCause, error: unknown, serves: boolean): Shutdown {
    const startedAt = clock.now()
    const shutdown: Shutdown = current = {
      cause,
      crashed: error !== undefined,
      startedAt,
      phase: 'running',
      deadline: deadlineFromNow(),
      clockRestarted: false,
      servingEnds: new AbortController(),
      drainDueAt: startedAt,
      drainBy: 0,
      closeCalled: false,
      closeFailed: false,
      closeStartedAt: null,
      forceClose: new AbortController(),
      ms: { delay: 0, preDrain: 0, drain: 0, work: 0, close: 0, hooks: 0 },
      worked: { finished: 0, failed: 0, cut: 0 },
      preDrained: [],
      ended: never(),
      drained: point(),
      drainAnswer: null,
      closeAsked: point(),
      signalled: point(),
      hooksDone: point(),
      fastifyClosed: point()
    }
    // From here on the gate notes who passes, and hooks and consumers added are errors (they read the cause).
    enter(shutdown, 'begun')
    outside.watch()
    reporter.start(cause, inflight.exchanges().length, error, options)
    // Consumers stop taking work at once; what they hold is waited for with the work, until the drain deadline.
    for (const { name, done } of consumers.pause()) work.follow(done, `consumer "${name}": pause()`, fastify.log)
    shutdown.ended = run(shutdown, serves)
    return shutdown
  }

  /** The one way the phase moves; the gate and the requests in flight are told, the other modules read it. */
  function enter (shutdown: Shutdown, phase: Phase): void {
    shutdown.phase = phase
    gate.enter(phase)
    inflight.enter(phase)
  }

  /** What a way in waits for: the point, or the error that ended the run before it. */
  function until<T> (shutdown: Shutdown, { reached }: Point<T>): Promise<T> {
    return Promise.race([reached, shutdown.ended.then(never)])
  }

  /**
   * The shutdown, top to bottom. Only a signal serves on; app.drain() holds after the work, until close() or a signal;
   * Fastify's hooks wait at the points released here, and release the ones the run waits at.
   */
  async function run (shutdown: Shutdown, serves: boolean): Promise<ShutdownSummary> {
    const beforeDrain = serveWithPreDrainHooks(shutdown, serves)
    // Nothing to wait for: the drain starts in this very turn (an inject() right after app.drain() is not in flight).
    if (beforeDrain !== null) await beforeDrain
    const result = await drain(shutdown)
    enter(shutdown, 'work')
    // Work that outlived its response (waitUntil) is waited for next, within the same drain deadline.
    await waitForWork(shutdown, shutdown.drainBy, shutdown.cause !== 'drain' || shutdown.closeCalled)
    shutdown.drained.release(result)
    if (shutdown.cause === 'drain') await shutdown.closeAsked.reached
    // Work handed to waitUntil() after an app.drain() that ended early: waited for too, within this deadline.
    await waitForWork(shutdown, hooksBudget(shutdown), true)
    enter(shutdown, 'hooks')
    const outcomes = await timed(shutdown, 'hooks', () =>
      hooks.run(shutdown.cause, hooksDeadline(shutdown), reporter.hook))
    shutdown.hooksDone.release()
    enter(shutdown, 'closing')
    await close(shutdown)
    enter(shutdown, 'done')
    return summarize(shutdown, result, outcomes)
  }

  function restartClock (shutdown: Shutdown): void {
    if (shutdown.cause !== 'drain' || shutdown.clockRestarted) return
    shutdown.clockRestarted = true
    shutdown.deadline = deadlineFromNow()
  }

  /**
   * Runs one phase: announced on the phase channel, its time added to the summary's figure for it, counted from `from`
   * (by default the phase's own start).
   */
  async function timed<T> (
    shutdown: Shutdown, phase: keyof Durations, run: () => Promise<T>, from = clock.now()
  ): Promise<T> {
    reporter.phase(phase, 'start')
    try {
      return await run()
    } finally {
      shutdown.ms[phase] += clock.now() - from
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

  /** What comes before the drain, side by side: the serving on a signal, the pre-drain hooks; null when neither. */
  function serveWithPreDrainHooks (shutdown: Shutdown, serves: boolean): Promise<unknown> | null {
    const before: Array<Promise<unknown>> = []
    if (serves && !closesAtOnce()) before.push(serve(shutdown))
    if (hooks.has('preDrain')) before.push(preDrain(shutdown))
    return before.length === 0 ? null : Promise.all(before)
  }

  /**
   * Serve on, readiness failing and every response asking for Connection: close, until the balancers have stopped
   * sending (lib/traffic.ts): never less than `delay`, never more than `maxDelay`; cut short by app.drain().
   */
  async function serve (shutdown: Shutdown): Promise<void> {
    enter(shutdown, 'serving')
    for (const exchange of inflight.exchanges()) lastCall.askToClose(exchange)
    const { delay, maxDelay } = options
    // The window counts from the signal, as the rule does: the start's work (its log line, the watchdog) is inside it.
    const ended = await timed(shutdown, 'delay', () => traffic.handOver(delay, maxDelay, shutdown.servingEnds.signal),
      shutdown.startedAt)
    shutdown.drainDueAt = clock.now()
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
  async function preDrain (shutdown: Shutdown): Promise<void> {
    shutdown.preDrained = await timed(shutdown, 'preDrain', () =>
      hooks.run(shutdown.cause, hooksBudget(shutdown), reporter.hook, 'preDrain'))
  }

  function farewell (): void {
    connections.goAway()
    closeWebSockets(fastify)
  }

  function drain (shutdown: Shutdown): Promise<DrainResult> {
    closePort()
    // Admission: the next request on each open connection is served, as its last; nothing new.
    enter(shutdown, 'draining')
    shutdown.drainBy = hooksBudget(shutdown)
    const drainParts = {
      clock,
      inflight,
      connections,
      lastCall,
      farewell,
      injects,
      retryAfter: options.retryAfter,
      waitForInjects: shutdown.cause !== 'close',
      pastNoReturn: () => enter(shutdown, 'cutting'),
      refused: () => gate.refused
    }
    return timed(shutdown, 'drain', () => drainRequests(drainParts, shutdown.drainBy))
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
   * The close: on app.close(), Fastify's own close step, over when the plugin's onClose has run; on a signal,
   * fastify.close() called here (unless app.close() was already under way), or none before onReady.
   */
  async function close (shutdown: Shutdown): Promise<void> {
    const how = await Promise.race([shutdown.signalled.reached, shutdown.fastifyClosed.reached])
    if (how === 'ready') await closeFastify(shutdown)
    // close() would wait for the plugins still loading: the process goes without it.
    if (how === 'startup') connections.letProcessGo()
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

  /** The summary, once everything it counts is over: on a signal after fastify.close(), else after onClose. */
  function summarize (shutdown: Shutdown, result: DrainResult, outcomes: HookOutcome[]): ShutdownSummary {
    return reporter.summary({
      cause: shutdown.cause,
      crashed: shutdown.crashed,
      closeFailed: shutdown.closeFailed,
      drain: result,
      refusedLater: gate.refused,
      hooks: [...shutdown.preDrained, ...outcomes],
      work: shutdown.worked,
      durationMs: { total: clock.now() - shutdown.startedAt, ...shutdown.ms, drain: result.durationMs }
    })
  }

  /** The shutdown under way, or one that app.drain() or app.close() begins now: no serving on. */
  function underWay (cause: 'drain' | 'close'): Shutdown {
    return current ?? begin(cause, undefined, false)
  }

  /** app.close() began (the close-order onClose hook, or preClose before onReady): the run goes on to the hooks. */
  async function beforeFastifyCloses (): Promise<void> {
    const shutdown = underWay('close')
    shutdown.closeCalled = true
    restartClock(shutdown)
    // Asked for while the process still serves after the signal: admission closes now.
    shutdown.servingEnds.abort()
    shutdown.closeAsked.release()
    await until(shutdown, shutdown.hooksDone)
  }

  return {
    get isShuttingDown () {
      return current !== null
    },
    get phase () {
      return current?.phase ?? 'running'
    },
    get cause () {
      return current?.cause ?? null
    },
    get closeCalled () {
      return current?.closeCalled ?? false
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
      const shutdown = current ?? begin(cause, error, true)
      shutdown.signalled.release('ready')
      restartClock(shutdown)
      shutdown.closeAsked.release()
      return (await shutdown.ended).exitCode
    },

    async duringStartup (cause, error) {
      const shutdown = current ?? begin(cause, error, false)
      shutdown.signalled.release('startup')
      shutdown.closeAsked.release()
      return (await shutdown.ended).exitCode
    },

    drain () {
      const shutdown = underWay('drain')
      // Asked for while the process still serves after the signal: admission closes now.
      shutdown.servingEnds.abort()
      return (shutdown.drainAnswer ??= until(shutdown, shutdown.drained))
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
        if (!signal.aborted) reporter.forceClosed(connections.closeAll())
      })
    },

    async onClose () {
      const shutdown = underWay('close')
      shutdown.forceClose.abort()
      connections.letProcessGo()
      shutdown.servingEnds.abort()
      shutdown.closeAsked.release()
      await until(shutdown, shutdown.hooksDone)
      if (shutdown.closeStartedAt !== null) {
        shutdown.ms.close = clock.now() - shutdown.closeStartedAt
        reporter.phase('close', 'end')
      }
      shutdown.fastifyClosed.release()
      // On a signal the summary waits for fastify.close() to be over (the other plugins' onClose hooks): not here.
      if (!shutdown.signalled.released) await shutdown.ended
    }
  }
}
