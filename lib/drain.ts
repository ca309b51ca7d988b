import type { Clock } from './clock.ts'
import type { Connections } from './connections.ts'
import { unavailable } from './gate.ts'
import type { Exchange, Inflight } from './inflight.ts'
import type { Injects } from './injects.ts'
import { isHttp1, pipelinedAfter, type LastCall } from './last-call.ts'
import { busyWith } from './private.ts'
import { withTimeout } from './timeout.ts'

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
 * How long after the drain starts its idle connections stay open when requests were still arriving just before (in the
 * traffic's last sample window or two, SAMPLE_WINDOW_MS in lib/traffic.ts): a client that was just handed a keep-alive
 * response, or has just connected, sends its request into a Connection: close answer instead of racing a socket close.
 * With none in the last window, or no connection left open, idle connections go at once. Not the sample window:
 * changing one leaves the other.
 */
export const LINGER_MS = 250

const CUT_BODY = unavailable('Server is shutting down: the request did not finish before the deadline')

/** Answer what can still be answered, close what cannot: nothing is left hanging without a reply. */
function cut ({ req, res, hijacked }: Exchange, retryAfter: number | false): void {
  // Streaming, or taken over (a WebSocket, a raw stream): no clean answer is possible any more.
  if (res.headersSent || hijacked()) {
    res.destroy()
    return
  }
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(CUT_BODY)
  }
  if (retryAfter !== false) headers['retry-after'] = retryAfter
  if (isHttp1(req)) headers.connection = 'close'
  res.writeHead(503, headers)
  res.end(CUT_BODY)
}

async function within (work: Promise<void>, ms: number, clock: Clock): Promise<boolean> {
  return (await withTimeout(work, ms, clock)).done
}

export interface DrainParts {
  clock: Clock
  inflight: Pick<Inflight, 'exchanges' | 'forget' | 'pending' | 'admittedRecently' | 'whenIdle'>
  connections: Pick<Connections, 'http1Sockets' | 'closeIdle' | 'open'>
  lastCall: Pick<LastCall, 'askToClose'>
  retryAfter: number | false
  injects: Pick<Injects, 'onTheirWay' | 'issuedEarly'>
  /** False for app.close(), which leaves inject() requests alone as Fastify's own close() does. */
  waitForInjects: boolean
  /** Tells the long-lived connections (HTTP/2 sessions, WebSockets) to go, once admission is closed. */
  farewell (): void
  /** The drain's point of no return: from here on every new request is refused. */
  pastNoReturn (): void
  /** New requests refused with 503 so far. */
  refused (): number
}

/**
 * The drain, once the port is closed (lib/sequence.ts closes it, first of all): each connection already open is served
 * until a response that says Connection: close; those left idle go after a short linger; then, past the point of no
 * return, what is still in flight at the deadline is cut.
 */
export function drain (parts: DrainParts, drainBy: number): Promise<DrainResult> {
  const { clock, inflight, lastCall, retryAfter, farewell } = parts
  const startedAt = clock.now()
  const lingerUntil = inflight.admittedRecently ? startedAt + LINGER_MS : 0
  const inFlight = inFlightNow(parts)
  const early = parts.injects.onTheirWay(inFlight, parts.waitForInjects)
  for (const exchange of inFlight) lastResponse(exchange, lastCall)
  farewell()

  const idle = (): Promise<void> => early.answered.then(() => inflight.whenIdle())
  return waitUntilDrained(idle, parts, Math.min(lingerUntil, drainBy), drainBy).then(finished => {
    parts.pastNoReturn()
    const left = inflight.pending()
    for (const exchange of left) cut(exchange, retryAfter)
    const cutNow = new Set(left)
    const wasInFlight = new Set(inFlight)
    // inject() requests issued before the drain that reached the gate only after it began: in flight all the same.
    const cutOnTheirWay = left.filter(e => parts.injects.issuedEarly(e.req) && !wasInFlight.has(e)).length
    return {
      inflight: inFlight.length + early.onTheirWay,
      completed: inFlight.reduce((count, e) => cutNow.has(e) ? count : count + 1, 0) + early.onTheirWay - cutOnTheirWay,
      cut: left.length,
      refused: parts.refused(),
      durationMs: clock.now() - startedAt,
      timedOut: !finished
    }
  })
}

/** The requests in flight; without inject()'s stand-ins, which close() leaves alone. */
function inFlightNow ({ inflight, connections, waitForInjects }: DrainParts): Exchange[] {
  const inFlight = inflight.exchanges()
  if (waitForInjects) return inFlight
  return inFlight.filter(exchange => {
    const injected = isHttp1(exchange.req) && !connections.http1Sockets.has(exchange.req.socket)
    if (injected) inflight.forget(exchange)
    return !injected
  })
}

/**
 * A request already streaming keeps its HTTP/1 connection until it ends (unless one is pipelined behind it); then the
 * connection goes. A response already rendered while it waits its turn behind another (pipelining) is left as it is:
 * its connection goes with the idle ones, or with the answer to the next request.
 */
function lastResponse (exchange: Exchange, lastCall: DrainParts['lastCall']): void {
  const { req, res } = exchange
  if (isHttp1(req) && res.headersSent) {
    // inject()'s stand-in socket has no end(): there is no connection to close.
    const socket = req.socket as { end?: () => void }
    if (busyWith(socket) === res && !pipelinedAfter(req)) res.once('close', () => socket.end?.())
  } else {
    lastCall.askToClose(exchange)
  }
}

/**
 * What cutting one request costs, up to the exit: its 503, its connection's close, the exit's share (0.065 ms each on a
 * 2-core VM, bench/scale.mjs; 0.1 leaves room for a slower one): with thousands in flight, the cut starts that much
 * before the drain deadline.
 */
export const CUT_COST_MS = 0.1

/** True once nothing is in flight and no idle connection is left to bring a request; false at the deadline. */
async function waitUntilDrained (
  idle: () => Promise<void>, { clock, inflight, connections }: DrainParts, lingerUntil: number, drainBy: number
): Promise<boolean> {
  for (;;) {
    // The fewer requests are left, the later the cut may start: the time left is checked again when it comes.
    const cutBy = (): number => drainBy - inflight.pending().length * CUT_COST_MS
    let done = await within(idle(), cutBy() - clock.now(), clock)
    while (!done && cutBy() > clock.now()) done = await within(idle(), cutBy() - clock.now(), clock)
    if (!done) return false
    // Only a connection that is still open can bring a request: with none (inject() alone, or every client gone), no
    // linger.
    const linger = lingerUntil - clock.now()
    if (linger > 0 && connections.open()) {
      await clock.sleep(linger)
      continue
    }
    // From a timer or a signal, the sockets were last read up to a whole loop turn ago: a request already in a
    // connection's buffer would be lost with it (reset). The check phase comes right after the poll that reads them.
    await clock.afterPoll()
    connections.closeIdle()
    if (inflight.pending().length === 0) return true
  }
}
