import type { FastifyInstance } from 'fastify'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { FST_ERR_REOPENED_CLOSE_SERVER } from './errors.ts'
import { reached, type Progress } from './phase.ts'
import { wrapInjectDispatch } from './private.ts'

export interface Injects {
  /** An inject() request issued before the drain began: in flight, whether or not it had reached the gate by then. */
  issuedEarly (req: object): boolean
  /**
   * At the drain's start (given the requests in flight, which hold those that reached the gate): how many inject()
   * requests issued before it have not reached the gate yet, and a promise that they have all been answered.
   */
  onTheirWay (inFlight: ReadonlyArray<{ req: object }>, wait: boolean): { onTheirWay: number, answered: Promise<void> }
}

/**
 * inject() starts its request a tick later (or once the app is ready), so `app.inject('/slow'); await app.drain()`
 * would find it at the gate only after admission closed. Each inject() call is followed from the call on, through
 * the function light-my-request dispatches it with: nothing runs for requests that arrive over a connection.
 */
export function watchInjects (fastify: FastifyInstance, progress: () => Progress): Injects {
  let early = new WeakSet<object>()
  // Each inject() call not answered yet, with its request once dispatched.
  const unanswered = new Map<object, object | undefined>()
  let allAnswered: (() => void) | undefined

  function answered (token: object): void {
    unanswered.delete(token)
    if (unanswered.size === 0) allAnswered?.()
  }

  const inject = fastify.inject
  fastify.inject = function (this: FastifyInstance, ...args: unknown[]) {
    // close() has begun: inject() fails from now on, as Fastify's does once closing (its step comes after the drain).
    if (progress().closeCalled) {
      const callback = args[1]
      if (typeof callback !== 'function') return Promise.reject(new FST_ERR_REOPENED_CLOSE_SERVER())
      callback(new FST_ERR_REOPENED_CLOSE_SERVER())
      return
    }
    const chain = (inject as (...args: unknown[]) => unknown).apply(this, args)
    if (reached(progress().phase, 'draining')) return chain
    const token = {}
    // With a callback, or once closed, inject() dispatches at once or fails: nothing is on its way.
    const followed = wrapInjectDispatch(chain, dispatch => function (
      this: unknown, req: IncomingMessage, res: ServerResponse
    ) {
      early.add(req)
      unanswered.set(token, req)
      res.once('close', () => answered(token))
      return dispatch.call(this, req, res)
    })
    if (followed) unanswered.set(token, undefined)
    return chain
  } as FastifyInstance['inject']

  return {
    issuedEarly (req) {
      return early.has(req)
    },
    onTheirWay (inFlight, wait) {
      if (!wait) {
        early = new WeakSet()
        return { onTheirWay: 0, answered: Promise.resolve() }
      }
      const arrived = new Set(inFlight.map(exchange => exchange.req))
      let onTheirWay = 0
      for (const req of unanswered.values()) if (req === undefined || !arrived.has(req)) onTheirWay++
      return {
        onTheirWay,
        answered: unanswered.size === 0 ? Promise.resolve() : new Promise(resolve => { allAnswered = resolve })
      }
    }
  }
}
