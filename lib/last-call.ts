import type { IncomingMessage, ServerResponse } from 'node:http'
import { latestRequest } from './private.ts'

/** The raw request and response of one exchange, whatever its connection. */
export interface RawExchange {
  req: IncomingMessage
  res: ServerResponse
}

/** HTTP/2 forbids the Connection header; its sessions are closed with GOAWAY instead. */
export function isHttp1 (req: { httpVersionMajor: number }): boolean {
  return req.httpVersionMajor < 2
}

/** True when a request was pipelined behind this one on its connection: closing after this response would lose it. */
export function pipelinedAfter (req: IncomingMessage): boolean {
  const latest = latestRequest(req.socket)
  return latest !== null && latest !== undefined && latest !== req
}

export interface LastCall {
  /**
   * Ask the client not to reuse this connection after this response: HTTP/1 with Connection: close on the last
   * response of the connection (a request pipelined behind this one carries it instead), HTTP/2 with GOAWAY.
   */
  askToClose (exchange: RawExchange): void
  /** Whether a request that arrives during the drain may still be served: its client has not been told to close yet. */
  mayServe (exchange: RawExchange): boolean
}

/**
 * Once a shutdown began, each HTTP/1 connection is served up to the response that tells its client to close it,
 * and not beyond: whatever the client sends after that could only be lost with the connection.
 */
export function createLastCall (): LastCall {
  // Only filled during a shutdown: the response that carries each connection's Connection: close.
  const lastResponses = new WeakMap<object, ServerResponse>()

  return {
    askToClose ({ req, res }) {
      if (!isHttp1(req)) {
        (req as { stream?: { session?: { close (): void } } }).stream?.session?.close()
        return
      }
      if (res.headersSent || pipelinedAfter(req)) return
      const earlier = lastResponses.get(req.socket)
      // A request pipelined during the drain: the one before it must not close the connection under it.
      if (earlier !== undefined && earlier !== res && !earlier.headersSent) earlier.removeHeader('connection')
      res.setHeader('connection', 'close')
      lastResponses.set(req.socket, res)
    },
    mayServe ({ req, res }) {
      const told = lastResponses.get(req.socket)
      return told === undefined || told === res || !told.headersSent
    }
  }
}
