// HTTP/1.1 by hand on one raw TCP socket: what a pipelining client or a load balancer's pool sends and sees.
import net from 'node:net'
import { once } from 'node:events'

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
}

export interface RawSocket {
  socket: net.Socket
  /** Every byte received so far. */
  received: () => string
  /** Resolves when the server closed the socket, within `ms`. */
  closed: (ms?: number) => Promise<void>
}

export async function openRaw (port: number): Promise<RawSocket> {
  const socket = net.connect(port, '127.0.0.1')
  let received = ''
  socket.setEncoding('latin1')
  socket.on('data', (chunk: string) => { received += chunk })
  socket.on('error', () => {})
  const close = once(socket, 'close').then(() => {})
  await once(socket, 'connect')
  return {
    socket,
    received: () => received,
    async closed (ms = 5000) {
      let timer: NodeJS.Timeout | undefined
      const limit = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`socket still open after ${ms} ms; received: ${received}`)), ms) })
      try { await Promise.race([close, limit]) } finally { clearTimeout(timer) }
    }
  }
}

/** One request with a JSON body, as bytes ready to write (several may go out in one write: pipelining). */
export function post (path: string, body: unknown): string {
  const json = JSON.stringify(body)
  return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`
}

/** Splits the bytes a server sent into complete responses (Content-Length bodies only); a trailing partial one is left out. */
export function parseResponses (bytes: string): RawResponse[] {
  const responses: RawResponse[] = []
  let rest = bytes
  for (;;) {
    const end = rest.indexOf('\r\n\r\n')
    if (end < 0) return responses
    const [statusLine, ...headerLines] = rest.slice(0, end).split('\r\n')
    const headers: Record<string, string> = {}
    for (const line of headerLines) {
      const colon = line.indexOf(':')
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
    }
    const length = Number(headers['content-length'] ?? 0)
    if (rest.length < end + 4 + length) return responses
    responses.push({ status: Number(statusLine!.split(' ')[1]), headers, body: rest.slice(end + 4, end + 4 + length) })
    rest = rest.slice(end + 4 + length)
  }
}
