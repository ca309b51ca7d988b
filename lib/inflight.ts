import type { FastifyReply } from 'fastify'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Http1Sockets } from './connections.ts'
import type { OnResponse } from './on-response.ts'
import type { Phase } from './phase.ts'
import { busyWith } from './private.ts'

/** One request in flight: its raw request and response, and its Fastify reply when it was tracked on its own. */
export interface Exchange {
  req: IncomingMessage
  res: ServerResponse
  /** Taken over by its handler (reply.hijack(), a WebSocket upgrade): no HTTP answer can be written any more. */
  hijacked (): boolean
}

/**
 * The requests that passed the gate and have not closed yet. On an HTTP/1 connection the hot path does
 * no bookkeeping at all: a shutdown finds the requests in flight on their connections (the response a
 * socket is busy with). Requests without such a connection (HTTP/2 streams, inject()), and requests pipelined behind
 * another response, are tracked one by one.
 */
export interface Inflight {
  /** The hot path: a request passed the gate while admission is open. */
  admit (reply: FastifyReply): void
  /** Tracks a request on its own, whatever its connection (the slow path, during a shutdown). */
  track (reply: FastifyReply): void
  /** The shutdown moved on: from its first moment, each request in flight is followed through its onResponse step. */
  enter (phase: Phase): void
  /**
   * Every request in flight now (during a shutdown), found on its connection or tracked; from here on each is
   * followed until it closes.
   */
  exchanges (): Exchange[]
  /** Stops following a request: close() does not wait for inject() requests, as Fastify's own close() does not. */
  forget (exchange: Exchange): void
  /** The requests followed so far that have not closed yet (no new search of the connections). */
  pending (): Exchange[]
  /**
   * True when a request passed the gate (admission open) within the last `recentMs` or so (at most twice that); false
   * when none did within `recentMs`.
   */
  readonly admittedRecently: boolean
  /** Requests that passed the gate while admission was open, health probes included. */
  readonly admitted: number
  /** Resolves once no request is in flight. */
  whenIdle (): Promise<void>
}

/**
 * `windowEnded` hears, once per `recentMs` while requests keep coming, how many have been admitted so far: the pace
 * of the traffic, read without a clock per request (the quiet rule, lib/traffic.ts).
 */
export function createInflight (
  http1Sockets: Http1Sockets, recentMs: number, onResponse: OnResponse, windowEnded: (admitted: number) => void
): Inflight {
  const open = new Map<ServerResponse, Exchange>()
  let waiters: Array<() => void> = []
  // During a shutdown only: the requests whose onResponse hooks Fastify has yet to run to the end; true once closed.
  const hooksRunning = new Map<ServerResponse, boolean>()
  // A copy of the sequence's phase, handed over at each change: track() reads a local on the hot path (HTTP/2, inject).
  let phase: Phase = 'running'
  // No clock read per request (bench/README.md, lockstep): a timer armed by the first request after a quiet spell,
  // kept armed by a flag while requests keep coming, and stopped by a window of `recentMs` with none. Under load: one
  // wakeup per window.
  let recent = false
  let again = false
  let window: NodeJS.Timeout | undefined
  let admitted = 0
  function windowEnds (): void {
    windowEnded(admitted)
    if (again) {
      again = false
      window!.refresh()
    } else {
      recent = false
    }
  }

  function done (res: ServerResponse): void {
    open.delete(res)
    if (open.size === 0 && waiters.length > 0) {
      const ready = waiters
      waiters = []
      for (const resolve of ready) resolve()
    }
  }

  function responseClosed (this: ServerResponse): void {
    // A request is done when Fastify is done with it: after its response, the onResponse hooks (fastifyDone).
    if (hooksRunning.has(this) && this.writableFinished) {
      hooksRunning.set(this, true)
      return
    }
    hooksRunning.delete(this)
    done(this)
  }

  function fastifyDone (res: object): void {
    const closed = hooksRunning.get(res as ServerResponse)
    hooksRunning.delete(res as ServerResponse)
    if (closed === true) done(res as ServerResponse)
  }

  function awaitOnResponse (res: ServerResponse): void {
    if (onResponse.awaited(res)) hooksRunning.set(res, false)
  }

  function follow (exchange: Exchange): void {
    if (open.has(exchange.res)) return
    open.set(exchange.res, exchange)
    if (phase !== 'running') awaitOnResponse(exchange.res)
    exchange.res.on('close', responseClosed)
  }

  function track (reply: FastifyReply): void {
    const res = reply.raw as ServerResponse
    follow({ req: reply.request.raw as IncomingMessage, res, hijacked: () => reply.sent && !res.writableEnded })
  }

  return {
    admit (reply) {
      admitted++
      if (recent) {
        again = true
      } else {
        recent = true
        window ??= setTimeout(windowEnds, recentMs).unref()
        window.refresh()
      }
      const socket = reply.request.raw.socket
      // Found on its connection at shutdown unless it waits behind another response there (pipelined).
      if (!http1Sockets.has(socket) || busyWith(socket) !== reply.raw) track(reply)
    },
    track,
    enter (next) {
      const beginning = phase === 'running'
      phase = next
      if (!beginning) return
      // Only now, at the shutdown's start: until then no request pays for it.
      onResponse.watch(fastifyDone)
      for (const res of open.keys()) awaitOnResponse(res)
    },
    exchanges () {
      for (const socket of http1Sockets) {
        const res = busyWith(socket)
        if (res !== null && res !== undefined && !res.writableEnded) {
          follow({ req: res.req, res, hijacked: () => (res.req as { upgrade?: boolean }).upgrade === true })
        }
      }
      return [...open.values()]
    },
    forget ({ res }) {
      open.delete(res)
      res.off('close', responseClosed)
    },
    pending () {
      return [...open.values()]
    },
    get admittedRecently () {
      return recent
    },
    get admitted () {
      return admitted
    },
    whenIdle () {
      if (open.size === 0) return Promise.resolve()
      return new Promise(resolve => { waiters.push(resolve) })
    }
  }
}
