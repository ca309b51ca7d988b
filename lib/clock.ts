import { performance } from 'node:perf_hooks'
import { setImmediate, setTimeout as sleep } from 'node:timers/promises'

/** Where a rule reads the time and waits: the real one in the plugin, a fake one in the rules' unit tests. */
export interface Clock {
  /** Milliseconds on a monotonic clock (performance.now()). */
  now (): number
  /** Resolves after `ms` (at once for 0 or less), or as soon as `signal` aborts; never rejects. */
  sleep (ms: number, signal?: AbortSignal): Promise<void>
  /**
   * Resolves in the loop's check phase, right after the poll that reads the sockets: what they had in their buffers
   * has been read by then. No time passes on a fake clock, which has no loop of its own.
   */
  afterPoll (): Promise<void>
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) => sleep(Math.max(0, ms), undefined, { signal }).catch(() => {}),
  afterPoll: () => setImmediate()
}
