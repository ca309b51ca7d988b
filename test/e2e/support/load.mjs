// Keep-alive load generator: `connections` workers, each sending one request at a time (GET and
// POST alternately) with a short pause, over a pool of as many persistent connections; and `fresh`
// workers more that open a new connection for each request.
// Every client-visible failure is recorded: a non-2xx status, a socket error, a time-out.
import http from 'node:http'
import { Pool } from 'undici'
import { setTimeout as sleep } from 'node:timers/promises'

export function startLoad ({ origin, connections = 16, fresh = 0, pauseMs = 20, timeoutMs = 10_000, t0 = Date.now() }) {
  const pool = new Pool(origin, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs
  })
  const stats = { total: 0, ok: 0, get: 0, post: 0, failures: [] }
  // When each server (the balancer's x-served-by: a name, or nginx's upstream address list) last answered 2xx.
  const servedAt = new Map()
  const state = { running: true }
  let seq = 0

  /** A client that opens a connection per request (a caller without a pool, a cron job, a Go client with keep-alive off). */
  function viaNewConnection (opts) {
    const { hostname, port } = new URL(origin)
    return new Promise((resolve, reject) => {
      const req = http.request({ host: hostname, port, agent: false, method: opts.method, path: opts.path, headers: opts.headers }, res => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', chunk => { text += chunk })
        res.on('end', () => resolve({ statusCode: res.statusCode, headers: res.headers, body: { text: async () => text } }))
        res.on('error', reject)
      })
      req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'UND_ERR_HEADERS_TIMEOUT' })))
      req.on('error', reject)
      req.end(opts.body)
    })
  }

  async function one (worker, method) {
    const id = `${worker}-${++seq}`
    const started = Date.now()
    const opts = method === 'GET'
      ? { method, path: `/?q=${id}` }
      : {
          method,
          path: '/orders',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ item: 'book', quantity: 1, ref: id })
        }
    opts.headers = { ...opts.headers, 'x-request-id': id }
    stats.total++
    stats[method.toLowerCase()]++
    try {
      const res = worker >= connections ? await viaNewConnection(opts) : await pool.request(opts)
      const body = await res.body.text()
      if (res.statusCode >= 200 && res.statusCode < 300) {
        stats.ok++
        const by = res.headers['x-served-by']
        if (typeof by === 'string') servedAt.set(by.split(', ').at(-1), Date.now())
      } else {
        record({ id, method, started, kind: `status ${res.statusCode}`, detail: body.slice(0, 160), headers: pick(res.headers) })
      }
    } catch (err) {
      const kind = err.code === 'UND_ERR_HEADERS_TIMEOUT' || err.code === 'UND_ERR_BODY_TIMEOUT'
        ? 'timeout'
        : (err.code ?? err.name)
      record({ id, method, started, kind, detail: err.message })
    }
  }

  function record ({ id, method, started, kind, detail, headers }) {
    stats.failures.push({ id, method, kind, at: started - t0, took: Date.now() - started, detail, headers })
  }

  async function worker (n) {
    let i = n
    while (state.running) {
      await one(n, i++ % 2 === 0 ? 'GET' : 'POST')
      await sleep(pauseMs / 2 + Math.random() * pauseMs)
    }
  }

  const workers = Array.from({ length: connections + fresh }, (_, n) => worker(n))

  return {
    stats,
    servedSince: (server, since) => (servedAt.get(server) ?? 0) > since,
    async stop () {
      state.running = false
      await Promise.all(workers)
      await pool.close()
      return summarize(stats)
    }
  }
}

function pick (headers) {
  return { connection: headers.connection, 'retry-after': headers['retry-after'], 'x-served-by': headers['x-served-by'] }
}

export function summarize (stats) {
  const byKind = {}
  for (const f of stats.failures) byKind[f.kind] = (byKind[f.kind] ?? 0) + 1
  return {
    requests: stats.total,
    get: stats.get,
    post: stats.post,
    ok: stats.ok,
    failed: stats.failures.length,
    byKind,
    failures: stats.failures
  }
}
