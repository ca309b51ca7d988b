import type { ShutdownCause } from './hooks.ts'

/**
 * Where an instance's shutdown stands; only lib/sequence.ts moves it, and only forward:
 * running (no shutdown) → begun (its first moment: admission still open, pre-drain hooks may run) → serving (on a
 * signal, while the traffic lasts) → draining (the port closed: each open connection served once more) → cutting
 * (past the drain's point of no return: every new request refused) → work (waitUntil() work and the consumers'
 * pauses; app.drain() holds here until close() or a signal) → hooks → closing (Fastify's close step, the other
 * plugins' onClose hooks) → done (the summary given).
 */
export type Phase =
  'running' | 'begun' | 'serving' | 'draining' | 'cutting' | 'work' | 'hooks' | 'closing' | 'done'

const ORDER: readonly Phase[] = [
  'running', 'begun', 'serving', 'draining', 'cutting', 'work', 'hooks', 'closing', 'done'
]

/** Whether `phase` is `since` or a later one. */
export function reached (phase: Phase, since: Phase): boolean {
  return ORDER.indexOf(phase) >= ORDER.indexOf(since)
}

/** What the other modules read of the shutdown: they ask when they need it, and keep no copy. */
export interface Progress {
  readonly phase: Phase
  /** What started the shutdown; null while running. */
  readonly cause: ShutdownCause | null
  /** app.close() has begun: Fastify's own close step comes once the hooks have run. */
  readonly closeCalled: boolean
}

/** For a part used on its own (its unit tests): no shutdown ever begins. */
export const NO_SHUTDOWN: Progress = { phase: 'running', cause: null, closeCalled: false }
