import closeWithGrace from 'close-with-grace'
import type { Worker as ClusterWorker } from 'node:cluster'
import { createRequire } from 'node:module'
import { fromSubscriber } from './channels.ts'
import type { ShutdownCause } from './hooks.ts'
import type { ShutdownSignal } from './options.ts'
import { performance } from 'node:perf_hooks'
import { startWatchdog } from './watchdog.ts'
import { inWorkerThread, keepWorkerAfterPrimary } from './private.ts'

/** One Fastify instance's part in a process-wide shutdown. */
export interface Participant {
  signals: ShutdownSignal[]
  timeout: number
  exit: boolean
  /** Runs the instance's whole shutdown; resolves with its exit code and never rejects. */
  shutdown (cause: ShutdownCause, error?: unknown): Promise<number>
  /** Writes out the last log lines before the exit (bounded). */
  flush (): Promise<void>
  /** Told when a second signal ends the process at once. */
  interrupted (what: string): void
  /** Told of an uncaught error once the shutdown is under way. */
  uncaught (error: unknown): void
  /** Nothing of the user's to run or wait for (no hook, no request in flight): the shutdown ends in a few ms. */
  quiet (): boolean
}

/** A quiet shutdown still running this long after its start gets the watchdog thread after all. */
export const WATCHDOG_LATE_MS = 20

/**
 * The process has one set of signal listeners however many instances register the plugin: one signal shuts every
 * instance down, and the process exits once, after all of them, with the worst code. Its state, in one place.
 */
const processWide = {
  /** The enrolled instances. */
  participants: new Set<Participant>(),
  /** close-with-grace's listeners, while installed. */
  listeners: null as { close (): void, uninstall (): void } | null,
  /** The signal listeners this module installed, so that other code's listeners can be told apart. */
  own: new Set<Function>(),
  /** The one shutdown once it began: its exit code, or null when the process ends on its own (exit: false). */
  shutdown: null as Promise<number | null> | null,
  /** The participants of the shutdown under way: they hear of a second signal even after they left. */
  involved: [] as Participant[],
  /** An uncaught error started the shutdown: the exit code is 1. */
  crashed: false,
  /** Uncaught errors once the shutdown is under way: each is logged and makes the exit code 1; the deadline holds. */
  errorsDuring: 0,
  /** PM2 was told 'ready'. */
  readySent: false
}

function interrupt (what: string): void {
  for (const participant of processWide.involved) participant.interrupted(what)
}

/**
 * A shutdown no signal started (an uncaught error, PM2's message, the cluster primary's loss): close-with-grace's
 * signal listeners stay as they are, so the first signal that comes during it joins it (the orchestrator's SIGTERM
 * after a crash), and only a second one ends the process at once.
 */
function startWithoutSignal (cause: ShutdownCause, error?: unknown): void {
  shutdownOnce(cause, error).then(code => { if (code !== null) process.exit(code) })
}

/**
 * Our own error listener, not close-with-grace's: its listeners exit at once on the error after the first, so an
 * error thrown by a handler mid-drain or a timer inside a hook would skip the drain and the hooks.
 */
function onError (error: unknown): void {
  // A channel subscriber's error: lib/channels.ts logs it, and it changes nothing.
  if (fromSubscriber()) return
  if (processWide.shutdown !== null) {
    processWide.errorsDuring++
    for (const participant of processWide.involved) participant.uncaught(error)
    return
  }
  processWide.crashed = true
  startWithoutSignal('error', error)
}
const ERROR_EVENTS = ['uncaughtException', 'unhandledRejection'] as const

const CLOSE_WITH_GRACE_SIGNALS = [
  'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGSEGV', 'SIGUSR2', 'SIGTERM'
] as const

/** PM2 starts the app with an IPC channel and its own environment (pm_id). */
function underPm2 (): boolean {
  return typeof process.send === 'function' && process.env.pm_id !== undefined
}

/** PM2's way to stop an app without a signal (Windows, shutdown_with_message): treated like a signal. */
function onMessage (message: unknown): void {
  if (message === 'shutdown') startWithoutSignal('message')
}

/**
 * This process's cluster worker, if it is one; only a process with an IPC channel can be, and only it loads
 * cluster.
 */
function clusterWorker (): ClusterWorker | undefined {
  if (typeof process.send !== 'function') return undefined
  return (createRequire(import.meta.url)('node:cluster') as typeof import('node:cluster').default).worker
}

/**
 * The cluster primary went away without disconnecting this worker (it died: SIGTERM to it alone, or to the whole
 * control group under systemd). Node's cluster code exits the worker with code 0 right after this event unless
 * exitedAfterDisconnect is set: the worker shuts down gracefully instead, and exits as a signal would make it.
 */
function onPrimaryGone (this: ClusterWorker): void {
  if (!keepWorkerAfterPrimary(this)) return
  startWithoutSignal('disconnect')
}

/** Listeners on `signal` that this plugin did not install: somebody else who may exit the process first. */
export function foreignListeners (signal: string): Function[] {
  return process.listeners(signal as NodeJS.Signals).filter(listener => !processWide.own.has(listener))
}

/** For PM2's wait_ready: the first instance listening says so, once per process. */
export function signalReady (): void {
  if (processWide.readySent || !underPm2()) return
  processWide.readySent = true
  process.send!('ready')
}

function install (): void {
  const { participants, own } = processWide
  processWide.listeners?.uninstall()
  own.clear()
  process.removeListener('message', onMessage)
  clusterWorker()?.removeListener('disconnect', onPrimaryGone)
  for (const event of ERROR_EVENTS) process.removeListener(event, onError)
  processWide.listeners = null
  if (participants.size === 0) return
  if (underPm2()) process.on('message', onMessage)
  clusterWorker()?.on('disconnect', onPrimaryGone)
  for (const event of ERROR_EVENTS) process.on(event, onError)
  const wanted = new Set<string>([...participants].flatMap(participant => participant.signals))
  const skip = [
    ...CLOSE_WITH_GRACE_SIGNALS.filter(signal => !wanted.has(signal)), 'beforeExit' as const, ...ERROR_EVENTS
  ]
  const before = new Set(CLOSE_WITH_GRACE_SIGNALS.flatMap(signal => process.listeners(signal)))
  processWide.listeners = closeWithGrace({
    delay: false,
    logger: false,
    skip,
    onSecondSignal: signal => interrupt(`second ${signal}`)
    // Called back on a signal only (errors and PM2's message start the shutdown themselves): a signal during a shutdown
    // already under way joins it. done() makes close-with-grace exit, 0 or 1; with exit: false it is never called.
  }, ({ signal }: { signal?: NodeJS.Signals }, done: (error?: Error) => void) => {
    shutdownOnce(signal as ShutdownCause).then(code => {
      if (code !== null) done(code === 0 ? undefined : new Error('graceful shutdown ended with exit code 1'))
    }, done)
  })
  for (const signal of wanted) {
    for (const listener of process.listeners(signal as NodeJS.Signals)) if (!before.has(listener)) own.add(listener)
  }
}

/** The process's one shutdown, however it began: a signal after the cluster primary went away joins it. */
function shutdownOnce (cause: ShutdownCause, error?: unknown): Promise<number | null> {
  return (processWide.shutdown ??= run(cause, error))
}

/** Every instance shuts down at once; the exit code once all are done (null with exit: false: no exit at all). */
async function run (cause: ShutdownCause, error?: unknown): Promise<number | null> {
  const began = performance.now()
  const all = processWide.involved = [...processWide.participants]
  const limit = Math.max(...all.map(participant => participant.timeout))
  const exit = all.every(participant => participant.exit)
  // The last word on the deadline, whatever hangs: participants bound their own work well before this.
  const hardStop = exit ? setTimeout(() => process.exit(1), limit) : undefined
  // A blocked main thread never runs that timer: a thread of its own keeps the deadline once it runs (lib/watchdog.ts),
  // started before any hook or handler can block; a quiet shutdown is over before a thread could boot (bench/README).
  const arm = (): void => { startWatchdog(limit, () => clearTimeout(hardStop), undefined, began) }
  const late = exit && all.every(participant => participant.quiet()) ? setTimeout(arm, WATCHDOG_LATE_MS) : undefined
  if (exit && late === undefined) arm()
  const codes = await Promise.all(all.map(participant => participant.shutdown(cause, error)))
  await Promise.all(all.map(participant => participant.flush()))
  clearTimeout(hardStop)
  clearTimeout(late)
  // The watchdog stays to the end: exit handlers can hang too (pino's last flushSync() to a full pipe).
  if (!exit) return null
  return Math.max(...codes) > 0 || processWide.errorsDuring > 0 || processWide.crashed ? 1 : 0
}

/** Signals reach the main thread only: an app in a worker thread waits for one that never comes. */
export function warnInWorkerThread (
  signals: ShutdownSignal[], warn: (message: string, code: string) => void
): void {
  if (signals.length === 0 || !inWorkerThread()) return
  warn(
    `fastify-graceful is registered inside a worker thread with signals ${signals.join(', ')}: signals never reach ` +
      'a worker thread, so none will start this app\'s graceful shutdown. Have the thread\'s owner ask it to call ' +
      'app.close() (a message on its port, say), and register the plugin with { signals: false }.',
    'FST_GRACEFUL_WORKER_THREAD'
  )
}

/** Joins the process-wide shutdown; returns the way out (idempotent). */
export function enroll (participant: Participant): () => void {
  processWide.participants.add(participant)
  if (processWide.shutdown === null) install()
  return () => {
    if (processWide.participants.delete(participant) && processWide.shutdown === null) install()
  }
}
