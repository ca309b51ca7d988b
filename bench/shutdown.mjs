// Measures 2 and 3: time from SIGTERM to exit in four cases, and requests lost across the
// signal under keep-alive load. Every variant runs in its own process (bench/server.mjs) on
// the same app; the client and the clock are here.
import { startServer, now } from './lib/proc.mjs'
import { request, newAgent, startLoad, count } from './lib/client.mjs'
import { summarize } from './lib/stats.mjs'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const within = (promise, ms) => Promise.race([promise, sleep(ms).then(() => null)])

export const LOAD_OUTCOMES = ['answered', 'refused', 'connrefused', 'died-reused', 'died-new', 'other', 'timeout']

// Sends SIGTERM and waits for the exit, at most `cap` ms; past that the process is killed.
async function signalAndWait (server, cap) {
  const signalAt = now()
  server.child.kill('SIGTERM')
  const exit = await within(server.exited, cap)
  if (!exit) {
    await server.kill()
    return { signalAt, ms: null, capped: true, exit: 'killed at cap' }
  }
  return { signalAt, ms: exit.at - signalAt, capped: false, exit: exit.code ?? exit.signal }
}

function describe (record) {
  if (!record) return 'no answer'
  if (record.status) return `${record.status}${record.connection === 'close' ? ' close' : ''}${record.retryAfter ? ` retry-after ${record.retryAfter}` : ''}`
  return record.code
}

// (a) idle keep-alive sockets only: 8 sockets, each served one request, then quiet for `idleFor` ms
// (longer than ours' 250 ms linger after the last keep-alive response, see bench/README.md)
async function idleCase (server, { cap, idleFor }) {
  const agents = Array.from({ length: 8 }, newAgent)
  const first = await Promise.all(agents.map((agent) => request(agent, { port: server.port, path: '/hello' })))
  if (first.some((r) => r.outcome !== 'answered')) throw new Error(`idle: warm-up requests failed: ${first.map(describe)}`)
  // Idle means idle: no response in the last moments, as on a server nobody is calling.
  await sleep(idleFor)
  const result = await signalAndWait(server, cap)
  for (const agent of agents) agent.destroy()
  return result
}

// (b) the keep-alive trap: one request in flight with `left` ms to go; the client keeps its socket
async function trapCase (server, { cap, left }) {
  const agent = newAgent()
  await request(agent, { port: server.port, path: '/hello' })
  const inflight = server.waitFor('inflight')
  const pending = request(agent, { port: server.port, path: `/slow?ms=${left}`, timeout: cap + 1000 })
  const started = await inflight
  const result = await signalAndWait(server, cap)
  // The IPC message takes a moment on a busy machine: say how much was really left, and how long
  // after the response was due the process exited (the part a shutdown adds).
  const dueAt = started.at + left
  result.leftAtSignal = dueAt - result.signalAt
  result.afterDue = result.capped ? null : result.signalAt + result.ms - dueAt
  result.client = describe(await within(pending, 2000))
  agent.destroy()
  return result
}

// (c) a request that never answers: only the deadline ends it
async function hungCase (server, { cap }) {
  const agent = newAgent()
  await request(agent, { port: server.port, path: '/hello' })
  const inflight = server.waitFor('inflight')
  const pending = request(agent, { port: server.port, path: '/hang', timeout: cap + 1000 })
  await inflight
  const result = await signalAndWait(server, cap)
  result.client = describe(await within(pending, 2000))
  agent.destroy()
  return result
}

// (d) and measure 3: 64 keep-alive workers, half GET, half POST, signal in the middle of the load
async function loadCase (server, { cap, workers, warm, workMs }) {
  const load = startLoad({
    port: server.port,
    workers,
    maxDuration: warm + cap + 2000,
    next: (i) => {
      const ms = Math.floor(Math.random() * (workMs + 1))
      return i % 2 === 0
        ? { method: 'GET', path: `/work?ms=${ms}` }
        : { method: 'POST', path: `/echo?ms=${ms}`, body: { worker: i, pad: 'x'.repeat(100) } }
    }
  })
  await sleep(warm)
  const result = await signalAndWait(server, cap)
  // Let the last errors of a dying process arrive before the bench stops its own sockets.
  await sleep(100)
  const records = await load.stop()
  const after = records.filter((r) => r.end >= result.signalAt)
  result.before = records.length - after.length
  result.counts = count(after, LOAD_OUTCOMES)
  result.died = { GET: 0, POST: 0 }
  for (const r of after) if (r.outcome === 'died-reused') result.died[r.method]++
  if (result.before === 0) throw new Error('load: no request was answered before the signal')
  return result
}

export const CASES = {
  idle: idleCase,
  trap: trapCase,
  hung: hungCase,
  load: loadCase
}

/**
 * @param {{ variants: string[], runs: Record<string, number>, deadline: number, cap: number,
 *   left: number, workers: number, warm: number, workMs: number, log: (s: string) => void }} opts
 */
export async function runShutdown (opts) {
  const { variants, runs, deadline, cap, log = () => {} } = opts
  const cases = {}
  for (const [name, fn] of Object.entries(CASES)) {
    cases[name] = {}
    for (const variant of variants) cases[name][variant] = { runs: [] }
    for (let run = 0; run < runs[name]; run++) {
      // Alternate the variants within each run, so that drift on the machine hits them alike.
      for (const variant of variants) {
        const entry = cases[name][variant]
        if (entry.error) continue
        let server
        try {
          server = await startServer(variant, { deadline, core: 0 })
        } catch (err) {
          entry.error = err.message
          continue
        }
        try {
          const result = await fn(server, opts)
          delete result.signalAt
          entry.runs.push(result)
          log(`  ${name} ${variant} run ${run + 1}/${runs[name]}: ${result.capped ? `> ${cap} ms` : `${result.ms.toFixed(1)} ms`} exit ${result.exit}` +
            (result.client ? `, client got ${result.client}` : '') +
            (result.counts ? `, ${Object.entries(result.counts).filter(([, n]) => n).map(([k, n]) => `${k} ${n}`).join(' ')}` : ''))
        } catch (err) {
          entry.error = err.message
        } finally {
          await server.kill()
        }
      }
    }
    for (const variant of variants) summarizeCase(cases[name][variant], cases[name].plain)
  }
  const { runs: _, log: __, variants: ___, ...config } = opts
  return {
    config: { ...config, runs },
    targets: { idle: 'ours <= 30 ms', trap: `ours <= ${opts.left} + 30 ms (exit at most 30 ms after the in-flight response was due)`, hung: 'ours = deadline, exit 1, client got 503', lost: 'ours: 0 died on a reused socket' },
    cases
  }
}

function summarizeCase (entry, plain) {
  if (entry.runs.length === 0) return
  const ms = entry.runs.map((r) => r.capped ? Infinity : r.ms)
  const sorted = [...ms].sort((a, b) => a - b)
  entry.ms = summarize(ms)
  // A median past the cap is reported as such, not as the median of the runs that made it.
  entry.cappedRuns = ms.filter((v) => v === Infinity).length
  entry.medianCapped = sorted[Math.floor((sorted.length - 1) / 2)] === Infinity
  entry.exits = tally(entry.runs.map((r) => String(r.exit)))
  if (entry.runs[0].client !== undefined) entry.clients = tally(entry.runs.map((r) => r.client))
  if (plain?.ms && !plain.medianCapped && !entry.medianCapped) entry.ratioToPlain = entry.ms.median / plain.ms.median
  if (entry.runs[0].leftAtSignal !== undefined) {
    entry.leftAtSignal = summarize(entry.runs.map((r) => r.leftAtSignal))
    entry.afterDue = summarize(entry.runs.map((r) => r.capped ? Infinity : r.afterDue))
  }
  if (entry.runs[0].counts) {
    entry.totals = Object.fromEntries(LOAD_OUTCOMES.map((o) => [o, entry.runs.reduce((sum, r) => sum + r.counts[o], 0)]))
    entry.diedReused = summarize(entry.runs.map((r) => r.counts['died-reused']))
    entry.diedByMethod = { GET: entry.runs.reduce((s, r) => s + r.died.GET, 0), POST: entry.runs.reduce((s, r) => s + r.died.POST, 0) }
  }
}

function tally (values) {
  const out = {}
  for (const v of values) out[v] = (out[v] ?? 0) + 1
  return out
}
