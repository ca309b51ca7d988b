// HTTP client side of the bench: one request with its outcome, and a keep-alive load of N workers.
// Each worker owns one keep-alive socket (an Agent with maxSockets 1), so `req.reusedSocket`
// tells whether a request went out on a socket that had already served a response.
import http from 'node:http'
import { now } from './proc.mjs'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Outcomes: answered (2xx), refused (503), other (another status),
 * connrefused (listener closed: nothing was sent, safe to retry),
 * died-reused / died-new (the request was sent and got no answer), timeout, aborted (by the bench).
 */
export function request (agent, { port, method = 'GET', path, body, timeout = 15000, isAborted = () => false }) {
  return new Promise((resolve) => {
    const start = now()
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = http.request({
      host: '127.0.0.1',
      port,
      method,
      path,
      agent,
      headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
    })
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; req.destroy(new Error('bench timeout')) }, timeout)
    const finish = (record) => {
      clearTimeout(timer)
      resolve({ method, path, start, end: now(), reused: Boolean(req.reusedSocket), ...record })
    }
    req.on('response', (res) => {
      res.resume()
      res.on('end', () => {
        const status = res.statusCode
        finish({
          outcome: status >= 200 && status < 300 ? 'answered' : status === 503 ? 'refused' : 'other',
          status,
          connection: res.headers.connection ?? null,
          retryAfter: res.headers['retry-after'] ?? null
        })
      })
      res.on('error', (err) => finish(failure(err)))
    })
    req.on('error', (err) => finish(failure(err)))
    req.end(payload)

    function failure (err) {
      if (timedOut) return { outcome: 'timeout', code: 'TIMEOUT' }
      if (isAborted()) return { outcome: 'aborted', code: err.code ?? err.message }
      if (err.code === 'ECONNREFUSED') return { outcome: 'connrefused', code: err.code }
      return { outcome: req.reusedSocket ? 'died-reused' : 'died-new', code: err.code ?? err.message }
    }
  })
}

/**
 * Keep-alive load: `workers` loops, each on its own socket, until stop().
 * @param {{ port: number, workers: number, next: (worker: number) => { method: string, path: string, body?: object } | null,
 *   think?: (last: object) => number, maxDuration: number }} opts  next() returning null makes that worker stop
 */
export function startLoad ({ port, workers, next, think = () => 0, maxDuration }) {
  const records = []
  const agents = []
  const state = { stopped: false }
  const hardEnd = now() + maxDuration
  const isAborted = () => state.stopped

  async function worker (i) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    agents.push(agent)
    while (!state.stopped && now() < hardEnd) {
      const plan = next(i)
      if (!plan) break
      const record = await request(agent, { port, ...plan, isAborted, timeout: Math.max(1, hardEnd - now()) })
      record.worker = i
      records.push(record)
      if (record.outcome === 'connrefused') await sleep(10)
      else {
        const pause = think(record)
        if (pause > 0) await sleep(pause)
      }
    }
  }

  const running = Promise.all(Array.from({ length: workers }, (_, i) => worker(i)))

  return {
    records,
    async stop () {
      state.stopped = true
      for (const agent of agents) agent.destroy()
      await Promise.race([running, sleep(5000)])
      return records
    }
  }
}

export function newAgent () {
  return new http.Agent({ keepAlive: true, maxSockets: 1 })
}

export function count (records, outcomes) {
  const counts = Object.fromEntries(outcomes.map((o) => [o, 0]))
  for (const r of records) counts[r.outcome] = (counts[r.outcome] ?? 0) + 1
  return counts
}
