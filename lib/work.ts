import type { FastifyBaseLogger } from 'fastify'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { FST_GRACEFUL_INVALID_WORK, show } from './errors.ts'

/** Work that outlived its response (request.waitUntil) or that no request started (app.waitUntil), during a shutdown. */
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
  /** From now on, settled work is counted for the summary (called when admission closes). */
  count (): void
  /** Waits for the work still running, until `by` (a performance.now() time); later work is no longer waited for. */
  settle (by: number, phase: (event: 'start' | 'end') => void): Promise<WorkResult>
}

export function createWork (): Work {
  const running = new Set<Promise<void>>()
  const result: WorkResult = { finished: 0, failed: 0, cut: 0 }
  let counting = false
  let settled = false

  return {
    add (promise, origin, log) {
      if (typeof (promise as PromiseLike<unknown> | null)?.then !== 'function') throw new FST_GRACEFUL_INVALID_WORK(origin, show(promise))
      if (settled) log.warn({ graceful: { event: 'work', outcome: 'late' } }, `${origin}.waitUntil() after the drain deadline: the shutdown does not wait for this work`)
      // Caught at once, so a rejection is logged and counted, never an unhandled rejection that ends the process.
      const tracked: Promise<void> = Promise.resolve(promise).then(() => {
        if (counting && !settled) result.finished++
      }, (err: unknown) => {
        if (counting && !settled) result.failed++
        log.error({ graceful: { event: 'work', outcome: 'failed' }, err }, `work passed to ${origin}.waitUntil() failed`)
      }).finally(() => running.delete(tracked))
      if (!settled) running.add(tracked)
    },
    count () {
      counting = true
    },
    async settle (by, phase) {
      const busy = running.size > 0
      if (busy) phase('start')
      const ac = new AbortController()
      const expired = sleep(Math.max(0, by - performance.now()), true, { signal: ac.signal }).catch(() => true)
      // Work may add more work while it runs: wait until nothing is left, or the deadline.
      while (running.size > 0) {
        if (await Promise.race([Promise.allSettled(running).then(() => false), expired])) break
      }
      ac.abort()
      settled = true
      result.cut = running.size
      if (busy) phase('end')
      return { ...result }
    }
  }
}
