import http from 'node:http'

export interface Answer {
  status?: number
  headers?: http.IncomingHttpHeaders
  body?: string
  /** Set when the request died without an HTTP answer. */
  error?: string
  /** Whether the request went out on a socket that had already carried a response. */
  reused: boolean
}

/** One HTTP/1.1 request; never rejects: a failure is an answer with `error`. */
export function request (port: number, path: string, options: { agent?: http.Agent, method?: string, body?: string, timeout?: number } = {}): Promise<Answer> {
  return new Promise(resolve => {
    const req = http.request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', agent: options.agent, headers: options.body === undefined ? {} : { 'content-type': 'application/json' } }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', chunk => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body, reused: req.reusedSocket }))
      res.on('error', err => resolve({ error: err.message, reused: req.reusedSocket }))
    })
    req.setTimeout(options.timeout ?? 30_000, () => req.destroy(new Error('client timeout')))
    req.on('error', err => resolve({ error: (err as NodeJS.ErrnoException).code ?? err.message, reused: req.reusedSocket }))
    req.end(options.body)
  })
}
