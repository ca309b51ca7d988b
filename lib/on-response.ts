import { fastifyInternal, runsOnResponse } from './private.ts'

/** Fastify's per-request log step, the last thing it does for a request: after the onResponse hooks, logging or not. */
interface LogController {
  requestCompleted (error: unknown, request: unknown, reply: { raw: object }, ...rest: unknown[]): unknown
}

/**
 * When Fastify is done with a request. Once a response has finished, Fastify runs the route's onResponse hooks, then
 * calls its log controller's requestCompleted: that call is the signal. Watched from the start of a shutdown only, so
 * a request costs nothing more while none is under way. Where Fastify's internals are not as expected, nothing is
 * waited for: a request is done when its response closes, as before.
 */
export interface OnResponse {
  /** From now on, `done` is called with each response once Fastify has run its onResponse hooks. */
  watch (done: (res: object) => void): void
  /** Whether Fastify will run its onResponse step for this response once it finishes (and `done` will say when). */
  awaited (res: { listeners (event: 'finish'): Array<{ name: string }> }): boolean
}

export function watchOnResponse (fastify: object): OnResponse {
  let watching = false

  return {
    watch (done) {
      const controller = fastifyInternal<LogController>(fastify, 'fastify.logController')
      if (typeof controller?.requestCompleted !== 'function') return
      const requestCompleted = controller.requestCompleted
      try {
        controller.requestCompleted = function (this: LogController, error, request, reply, ...rest) {
          try {
            return requestCompleted.call(this, error, request, reply, ...rest)
          } finally {
            done(reply.raw)
          }
        }
        watching = true
      } catch {}
    },
    awaited (res) {
      return watching && runsOnResponse(res)
    }
  }
}
