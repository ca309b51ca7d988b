import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import type { Exchange, Inflight } from './inflight.ts'

/** Why a request is let through, or how it is turned away, depends only on this. */
type Admission = 'open' | 'closing' | 'closed'

/** Marks a route that answers during the drain too (the health routes): set as a key of its route config. */
export const ADMIT = Symbol('fastify-graceful.admit')

export interface Gate {
  onRequest: onRequestHookHandler
  /** Aborts when admission closes: streams and long polls end on it. */
  readonly signal: AbortSignal
  /** Keep serving, but ask every client to take its connection elsewhere (the delay window). */
  announce (): void
  /** From now on new requests are refused with 503. */
  close (): void
  /** Requests refused since admission closed. */
  readonly refused: number
}

/** HTTP/2 forbids the Connection header; its sessions are closed with GOAWAY instead. */
export function isHttp1 (req: { httpVersionMajor: number }): boolean {
  return req.httpVersionMajor < 2
}

/**
 * Ask the client not to reuse this connection after this response: HTTP/1 with Connection: close (while the
 * headers are still unsent), HTTP/2 with GOAWAY (the session's open streams finish, new ones go elsewhere).
 */
export function askToClose ({ req, res }: Pick<Exchange, 'req' | 'res'>): void {
  if (!isHttp1(req)) {
    (req as { stream?: { session?: { close (): void } } }).stream?.session?.close()
  } else if (!res.headersSent) {
    res.setHeader('connection', 'close')
  }
}

const raw = (reply: FastifyReply): Pick<Exchange, 'req' | 'res'> => ({ req: reply.request.raw, res: reply.raw } as Pick<Exchange, 'req' | 'res'>)

/** The body of every 503 the plugin sends, refused at the gate or cut at the deadline. */
export function unavailable (message: string): string {
  return JSON.stringify({ statusCode: 503, code: 'FST_GRACEFUL_SHUTTING_DOWN', error: 'Service Unavailable', message })
}

function admitted (request: FastifyRequest): boolean {
  return (request.routeOptions.config as unknown as Record<symbol, unknown>)[ADMIT] === true
}

export function createGate (inflight: Inflight, retryAfter: number | false, refuseWhenClosed: boolean): Gate {
  let admission: Admission = 'open'
  let refused = 0
  const closing = new AbortController()
  const body = unavailable('Server is shutting down')

  function refuse (reply: FastifyReply): void {
    refused++
    reply.code(503).header('content-type', 'application/json; charset=utf-8')
    if (retryAfter !== false) reply.header('retry-after', retryAfter)
    askToClose(raw(reply))
    reply.send(body)
  }

  function onRequest (this: unknown, request: FastifyRequest, reply: FastifyReply, done: () => void): void {
    if (admission === 'open') {
      inflight.admit(reply)
      done()
    } else if (admission === 'closing' || admitted(request) || !refuseWhenClosed) {
      askToClose(raw(reply))
      inflight.track(reply)
      done()
    } else {
      refuse(reply)
    }
  }

  return {
    onRequest,
    announce () {
      if (admission === 'open') admission = 'closing'
    },
    close () {
      admission = 'closed'
      closing.abort()
    },
    signal: closing.signal,
    get refused () {
      return refused
    }
  }
}
