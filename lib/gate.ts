import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import type { Http1Sockets } from './connections.ts'
import type { Inflight } from './inflight.ts'
import { isHttp1, type LastCall, type RawExchange } from './last-call.ts'
import { reached, type Phase } from './phase.ts'

/** Marks a route that answers during the drain too (the health routes): set as a key of its route config. */
export const ADMIT = Symbol('fastify-graceful.admit')

export interface Gate {
  /** The onRequest hook itself: while no shutdown is under way, it only notes the request for a shutdown to find. */
  onRequest: onRequestHookHandler
  /** Aborts when admission closes: streams and long polls end on it. */
  readonly signal: AbortSignal
  /**
   * The shutdown moved on. Why a request is let through, or how it is turned away, depends only on its phase:
   * running (no shutdown); begun (admission still open, but every request that passes is reported as gated); serving
   * (served, asked to close its connection); draining (no new connection, each open one served once more); cutting
   * and after (past the drain's point of no return: every new request is refused with 503).
   */
  enter (phase: Phase): void
  /** Requests refused since admission closed. */
  readonly refused: number
}

export interface GateParts {
  inflight: Inflight
  lastCall: LastCall
  /** The HTTP/1 connections the server accepted (not inject()'s stand-ins, which belong to app.drain() in tests). */
  http1Sockets: Http1Sockets
  retryAfter: number | false
  /** Fastify's return503OnClosing: false lets every request through once closing. */
  refuseWhenClosed: boolean
  /** Told of each request that passes the gate once a shutdown has begun (to spot routes outside it). */
  gated (request: FastifyRequest): void
  /** Told of each request other than a health probe that arrives once a shutdown has begun (the quiet rule). */
  arrived (): void
  /** An inject() request issued before the drain began: in flight, though it reaches the gate only now. */
  issuedEarly (req: object): boolean
}

const raw = (reply: FastifyReply): RawExchange => ({ req: reply.request.raw, res: reply.raw } as RawExchange)

/** The body of every 503 the plugin sends, refused at the gate or cut at the deadline. */
export function unavailable (message: string): string {
  return JSON.stringify({ statusCode: 503, code: 'FST_GRACEFUL_SHUTTING_DOWN', error: 'Service Unavailable', message })
}

function admitted (request: FastifyRequest): boolean {
  return (request.routeOptions.config as unknown as Record<symbol, unknown>)[ADMIT] === true
}

export function createGate (parts: GateParts): Gate {
  const { inflight, lastCall, http1Sockets, retryAfter, refuseWhenClosed, gated, arrived, issuedEarly } = parts
  // A copy of the sequence's phase, handed over at each change: the hot path reads a local, no call.
  let phase: Phase = 'running'
  let refused = 0
  const admissionClosed = new AbortController()
  const body = unavailable('Server is shutting down')

  /**
   * During the drain: a request on a connection that was open before it, not an upgrade, whose client was not told to
   * close yet; or an inject() issued before it.
   */
  function onOpenConnection (exchange: RawExchange): boolean {
    const { req } = exchange
    if (!http1Sockets.has(req.socket)) return issuedEarly(req)
    return isHttp1(req) && req.headers.upgrade === undefined && lastCall.mayServe(exchange)
  }

  function refuse (reply: FastifyReply): void {
    refused++
    reply.code(503).header('content-type', 'application/json; charset=utf-8')
    if (retryAfter !== false) reply.header('retry-after', retryAfter)
    lastCall.askToClose(raw(reply))
    const { upgrade, socket } = reply.request.raw as {
      upgrade?: boolean
      socket: { end (done: () => void): void, destroy (): void }
    }
    // An upgrade's socket has left Node's HTTP server (@fastify/websocket routes it by hand): nothing else closes it.
    if (upgrade === true) reply.raw.once('finish', () => socket.end(() => socket.destroy()))
    reply.send(body)
  }

  function serveLast (reply: FastifyReply, done: () => void): void {
    lastCall.askToClose(raw(reply))
    inflight.track(reply)
    done()
  }

  // Registered as the hook itself, with no wrapper: while no shutdown is under way, one comparison and the bookkeeping
  // a shutdown needs (the per-request cost: bench/README.md, test/app/hot-path.test.ts).
  function onRequest (request: FastifyRequest, reply: FastifyReply, done: () => void): void {
    if (phase !== 'running') {
      gated(request)
      if (!admitted(request)) arrived()
      if (phase !== 'begun') return announcedOrClosed(request, reply, done)
    }
    inflight.admit(reply)
    done()
  }

  function announcedOrClosed (request: FastifyRequest, reply: FastifyReply, done: () => void): void {
    if (phase === 'serving' || admitted(request) || !refuseWhenClosed ||
      (phase === 'draining' && onOpenConnection(raw(reply)))) {
      serveLast(reply, done)
    } else {
      refuse(reply)
    }
  }

  return {
    onRequest,
    enter (next) {
      phase = next
      if (reached(next, 'draining')) admissionClosed.abort()
    },
    signal: admissionClosed.signal,
    get refused () {
      return refused
    }
  }
}
