import closeWithGrace from 'close-with-grace'
import type { ShutdownCause } from './hooks.ts'
import type { ShutdownSignal } from './options.ts'

/** One Fastify instance's part in a process-wide shutdown. */
export interface Participant {
  signals: ShutdownSignal[]
  timeout: number
  exit: boolean
  /** Runs the instance's whole shutdown; resolves with its exit code and never rejects. */
  shutdown (cause: ShutdownCause, error?: unknown): Promise<number>
  /** Told when a second signal or error ends the process at once. */
  interrupted (what: string): void
}

/**
 * The process has one set of signal listeners however many instances register the plugin:
 * one signal shuts every instance down, and the process exits once, after all of them, with the worst code.
 */
const participants = new Set<Participant>()
let listeners: { uninstall (): void } | null = null
let running = false
/** The participants of the shutdown under way: they hear of a second signal even after they left. */
let involved: Participant[] = []

function interrupt (what: string): void {
  for (const participant of involved) participant.interrupted(what)
}

const CLOSE_WITH_GRACE_SIGNALS = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGSEGV', 'SIGUSR2', 'SIGTERM'] as const

function install (): void {
  listeners?.uninstall()
  listeners = null
  if (participants.size === 0) return
  const wanted = new Set<string>([...participants].flatMap(participant => participant.signals))
  const skip = [...CLOSE_WITH_GRACE_SIGNALS.filter(signal => !wanted.has(signal)), 'beforeExit' as const]
  listeners = closeWithGrace({
    delay: false,
    logger: false,
    skip,
    onSecondSignal: signal => interrupt(`second ${signal}`),
    onSecondError: () => interrupt('second uncaught error')
  }, ({ signal, err }) => run(signal ?? 'error', err))
}

async function run (cause: ShutdownCause, error: unknown): Promise<void> {
  running = true
  const all = involved = [...participants]
  const limit = Math.max(...all.map(participant => participant.timeout))
  const exit = all.every(participant => participant.exit)
  // The last word on the deadline, whatever hangs: participants bound their own work well before this.
  const hardStop = exit ? setTimeout(() => process.exit(1), limit) : undefined
  const codes = await Promise.all(all.map(participant => participant.shutdown(cause, error)))
  clearTimeout(hardStop)
  // close-with-grace exits 0 when this resolves and 1 when it rejects; with exit: false it must do neither.
  if (!exit) return new Promise(() => {})
  if (Math.max(...codes) > 0) throw new Error('graceful shutdown ended with exit code 1')
}

/** Joins the process-wide shutdown; returns the way out (idempotent). */
export function enroll (participant: Participant): () => void {
  participants.add(participant)
  if (!running) install()
  return () => {
    if (participants.delete(participant) && !running) install()
  }
}
