import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'

export type Transport = 'http' | 'https' | 'h2c' | 'h2' | 'h2-allow-http1'

export interface Reply {
  status?: number
  headers?: Record<string, unknown>
  body: string
  error?: string
}

/** A client connection of the transport's kind: one keep-alive agent, or one HTTP/2 session. */
export interface Client {
  request (path: string, onData?: (chunk: string) => void): Promise<Reply>
  /** HTTP/2 only: resolves when the server sent GOAWAY on this session. */
  goaway: Promise<void>
  close (): void
}

const isHttp2 = (transport: Transport): boolean => transport.startsWith('h2')
const tls = (transport: Transport): boolean => transport !== 'http' && transport !== 'h2c'

export function connect (transport: Transport, port: number, ca: string): Client {
  if (isHttp2(transport)) {
    const session = http2.connect(`${tls(transport) ? 'https' : 'http'}://127.0.0.1:${port}`, tls(transport) ? { ca } : {})
    // A session that never connected fails its streams with a cancel code: the session's error says why.
    let failure: string | undefined
    session.on('error', err => { failure ??= (err as NodeJS.ErrnoException).code })
    const goaway = new Promise<void>(resolve => session.once('goaway', () => resolve()))
    return {
      goaway,
      close: () => session.destroy(),
      request: (path, onData) => new Promise(resolve => {
        const stream = session.request({ ':path': path })
        let body = ''
        let headers: Record<string, unknown> | undefined
        stream.setEncoding('utf8')
        stream.on('response', h => { headers = h })
        stream.on('data', (chunk: string) => { body += chunk; onData?.(chunk) })
        let error: string | undefined
        stream.on('error', err => { error = (err as NodeJS.ErrnoException).code ?? err.message })
        // 'close' comes last; the session's own error just after its streams'. A stream closed with neither an answer
        // nor an error (its connection ended cleanly) says so, with the HTTP/2 code it was closed with.
        stream.on('close', () => setImmediate(() => {
          const status = headers?.[':status'] as number | undefined
          if (headers !== undefined && error === undefined) resolve({ status, headers, body })
          else resolve({ status, headers, body, error: failure ?? error ?? `closed without an answer (HTTP/2 code ${stream.rstCode})` })
        }))
        stream.end()
      })
    }
  }
  const agent = tls(transport) ? new https.Agent({ keepAlive: true, ca }) : new http.Agent({ keepAlive: true })
  const client = tls(transport) ? https : http
  return {
    goaway: new Promise(() => {}),
    close: () => agent.destroy(),
    request: (path, onData) => new Promise(resolve => {
      const req = client.request({ host: '127.0.0.1', port, path, agent }, res => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => { body += chunk; onData?.(chunk) })
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }))
        res.on('error', err => resolve({ body, error: err.message }))
      })
      req.on('error', err => resolve({ body: '', error: (err as NodeJS.ErrnoException).code ?? err.message }))
      req.end()
    })
  }
}
