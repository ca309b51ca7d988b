import type { FastifyReply } from 'fastify'
import { performance } from 'node:perf_hooks'

/**
 * The requests that passed the gate and have not closed yet. The hot path is one Map.set
 * and one listener per request; everything else happens only during a shutdown.
 */
export interface Inflight {
  track (reply: FastifyReply): void
  readonly size: number
  replies (): IterableIterator<FastifyReply>
  /** When the last response closed (performance.now clock); 0 before the first. */
  readonly lastSettledAt: number
  /** Resolves once no request is in flight. */
  whenIdle (): Promise<void>
}

export function createInflight (): Inflight {
  const open = new Map<object, FastifyReply>()
  let waiters: Array<() => void> = []
  let lastSettled = 0

  function settle (this: object): void {
    open.delete(this)
    lastSettled = performance.now()
    if (open.size === 0 && waiters.length > 0) {
      const ready = waiters
      waiters = []
      for (const resolve of ready) resolve()
    }
  }

  return {
    track (reply) {
      open.set(reply.raw, reply)
      reply.raw.on('close', settle)
    },
    get size () {
      return open.size
    },
    replies () {
      return open.values()
    },
    get lastSettledAt () {
      return lastSettled
    },
    whenIdle () {
      if (open.size === 0) return Promise.resolve()
      return new Promise(resolve => { waiters.push(resolve) })
    }
  }
}
