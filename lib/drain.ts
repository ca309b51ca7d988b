import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { askToClose, isHttp1, unavailable, type Gate } from './gate.ts'
import type { Exchange, Inflight } from './inflight.ts'

export interface DrainResult {
  /** Requests in flight when admission closed. */
  inflight: number
  /** Of those, how many finished on their own. */
  completed: number
  /** Of those, how many were cut at the drain deadline (503 if nothing was sent yet, else the connection closed). */
  cut: number
  /** New requests refused with 503 while draining. */
  refused: number
  /** How long the drain took, in ms. */
  durationMs: number
  /** True when the drain deadline came before the last in-flight request finished. */
  timedOut: boolean
}

/**
 * How long after the last request admitted before the drain the drain keeps idle connections open, so that
 * a client that was just handed a keep-alive response sends its next request into a clean 503 instead of
 * racing a socket close.
 */
export const LINGER_MS = 250

const CUT_BODY = unavailable('Server is shutting down: the request did not finish before the deadline')

/** A request that is already streaming keeps its HTTP/1 connection until it ends; then the connection goes. */
function release (exchange: Exchange): void {
  const { req, res } = exchange
  if (isHttp1(req) && res.headersSent) {
    // inject()'s stand-in socket has no end(): there is no connection to close.
    const socket = req.socket as { end?: () => void }
    res.once('close', () => socket.end?.())
  } else {
    askToClose(exchange)
  }
}

/** Answer what can still be answered, close what cannot: nothing is left hanging without a reply. */
function cut ({ req, res, hijacked }: Exchange, retryAfter: number | false): void {
  // Streaming, or taken over (a WebSocket, a raw stream): no clean answer is possible any more.
  if (res.headersSent || hijacked()) {
    res.destroy()
    return
  }
  const headers: Record<string, string | number> = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(CUT_BODY) }
  if (retryAfter !== false) headers['retry-after'] = retryAfter
  if (isHttp1(req)) headers.connection = 'close'
  res.writeHead(503, headers)
  res.end(CUT_BODY)
}

function within (work: Promise<void>, ms: number): Promise<boolean> {
  const ac = new AbortController()
  return Promise.race([
    work.then(() => { ac.abort(); return true }),
    sleep(ms, false, { signal: ac.signal }).catch(() => true)
  ])
}

export interface DrainParts {
  gate: Gate
  inflight: Inflight
  retryAfter: number | false
  /** Tells the long-lived connections (HTTP/2 sessions, WebSockets) to go, once admission is closed. */
  farewell (): void
}

export function drain ({ gate, inflight, retryAfter, farewell }: DrainParts, drainBy: number): Promise<DrainResult> {
  const startedAt = performance.now()
  const lastAdmitted = inflight.lastAdmittedAt
  gate.close()
  const inFlight = inflight.exchanges()
  for (const exchange of inFlight) release(exchange)
  farewell()

  return within(inflight.whenIdle(), drainBy - startedAt).then(async finished => {
    const left = inflight.pending()
    for (const exchange of left) cut(exchange, retryAfter)
    if (finished) {
      const linger = Math.min(lastAdmitted + LINGER_MS, drainBy) - performance.now()
      if (linger > 0) await sleep(linger)
    }
    return {
      inflight: inFlight.length,
      completed: inFlight.filter(exchange => !left.includes(exchange)).length,
      cut: left.length,
      refused: gate.refused,
      durationMs: performance.now() - startedAt,
      timedOut: !finished
    }
  })
}
