import type { FastifyBaseLogger } from 'fastify'
import { FST_GRACEFUL_INVALID_WORK, show } from './errors.ts'
import type { Clock } from './clock.ts'
import { reached, type Progress } from './phase.ts'
import { withTimeout } from './timeout.ts'

/**
 * Work that outlived its response (request.waitUntil) or that no request started (app.waitUntil), during a
 * shutdown.
 */
export interface WorkResult {
  /** Settled (resolved) after admission closed. */
  finished: number
  /** Rejected after admission closed (each one is logged). */
  failed: number
  /** Still running at the drain deadline: not waited for any longer. */
  cut: number
}

export interface Work {
  /** request.waitUntil and app.waitUntil: keep the shutdown waiting for `promise`, until the drain deadline. */
  add (promise: unknown, origin: 'request' | 'app', log: FastifyBaseLogger): void
  /** A consumer's pause (lib/consumers.ts): waited for like work, until the drain deadline; `what` names it in logs. */
  follow (done: Promise<unknown>, what: string, log: FastifyBaseLogger): void
  /**
   * Waits for the work still running, until `by` (a time on the clock). After the last call, or once the deadline
   * cut some work, later work is no longer waited for; app.drain() alone is not the last: close() waits again.
   */
  waitFor (by: number, phase: (event: 'start' | 'end') => void, last: boolean): Promise<WorkResult>
}

/** Whether a user's value is a thenable; a `then` getter that throws makes it none, never a raw error. */
function thenable (value: unknown): boolean {
  try {
    return typeof (value as PromiseLike<unknown> | null)?.then === 'function'
  } catch {
    return false
  }
}

export function createWork (clock: Clock, progress: () => Progress): Work {
  const running = new Set<Promise<void>>()
  const result: WorkResult = { finished: 0, failed: 0, cut: 0 }
  // Work settled once admission closed is counted for the summary.
  const counting = (): boolean => reached(progress().phase, 'draining')
  /** Why the shutdown no longer waits for work: its deadline cut some, or its last wait is over. */
  let closedBy: 'deadline' | 'end' | null = null
  /** While the shutdown waits for work, since when (on the clock); null otherwise. */
  let waitingSince: number | null = null
  let warnedArriving = false

  function follow (promise: unknown, what: string, log: FastifyBaseLogger): void {
    // Caught at once, so a rejection is logged and counted, never an unhandled rejection that ends the process.
    const tracked: Promise<void> = Promise.resolve(promise).then(() => {
      if (counting() && closedBy === null) result.finished++
    }, (err: unknown) => {
      if (counting() && closedBy === null) result.failed++
      log.error({ graceful: { event: 'work', outcome: 'failed' }, err }, `${what} failed`)
    }).finally(() => running.delete(tracked))
    if (closedBy === null) running.add(tracked)
  }

  return {
    add (promise, origin, log) {
      if (!thenable(promise)) throw new FST_GRACEFUL_INVALID_WORK(origin, show(promise))
      if (closedBy !== null) {
        const when = closedBy === 'deadline'
          ? 'after the drain deadline'
          : 'after the shutdown stopped waiting for work'
        log.warn({ graceful: { event: 'work', outcome: 'late' } },
          `${origin}.waitUntil() ${when}: the shutdown does not wait for this work`)
      } else if (origin === 'app' && waitingSince !== null && !warnedArriving) {
        // Work no request started, still arriving once admission closed: something still takes jobs.
        warnedArriving = true
        const ms = Math.round(clock.now() - waitingSince)
        log.warn({ graceful: { event: 'work', outcome: 'arriving' } },
          `app.waitUntil() ${ms} ms into the wait for work: new work is still being taken after admission closed. ` +
            'If a queue consumer took it, stop the consumer at the signal with app.addConsumer(): the shutdown waits ' +
            'for this work only until the drain deadline')
      }
      follow(promise, `work passed to ${origin}.waitUntil()`, log)
    },
    follow,
    async waitFor (by, phase, last) {
      if (closedBy !== null) return { ...result }
      const busy = running.size > 0
      if (busy) phase('start')
      waitingSince = clock.now()
      // Work may add more work while it runs: wait until nothing is left, or the deadline.
      while (running.size > 0) {
        if (!(await withTimeout(Promise.allSettled(running), by - clock.now(), clock)).done) break
      }
      waitingSince = null
      if (running.size > 0) closedBy = 'deadline'
      else if (last) closedBy = 'end'
      result.cut = running.size
      if (busy) phase('end')
      return { ...result }
    }
  }
}
