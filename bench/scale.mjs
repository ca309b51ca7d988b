// Measure 5: at scale. For N connections on one process, the plugin against plain Fastify in the same run: the heap
// per idle connection (after a forced GC, in the server), and the time from SIGTERM to the exit with N idle
// connections, with N requests in flight (answered 200 ms after the signal), and with N requests that never answer
// (cut at the deadline). One process per case and variant; the client sockets and the clock live here.
// The machine's file limit is 20,000 per process: the largest N stays below it (19,500), server and client alike.
import net from 'node:net'
import { startServer, now } from './lib/proc.mjs'
import { summarize } from './lib/stats.mjs'

export const SCALE_VARIANTS = ['plain', 'ours']

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const within = (promise, ms) => Promise.race([promise, sleep(ms).then(() => null)])
// Connections opened at once: the server's accept queue holds 511, and a dropped SYN waits a second to retry.
const BATCH = 256
const QUIET_MS = 600

/** What one client connection saw: its last status line, or how it ended without one. */
function openConnection (port, path, answered) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' })
    const client = { socket, statuses: [], closed: false }
    socket.setEncoding('latin1')
    socket.on('data', (chunk) => {
      for (const match of chunk.matchAll(/HTTP\/1\.1 (\d{3})/g)) client.statuses.push(Number(match[1]))
      if (answered) resolve(client)
    })
    socket.on('close', () => { client.closed = true })
    socket.once('error', (err) => { client.error = err.code ?? err.message; reject(err) })
    socket.once('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
      if (!answered) resolve(client)
    })
  })
}

async function openConnections (port, n, path, { answered }) {
  const clients = []
  for (let i = 0; i < n; i += BATCH) {
    clients.push(...await Promise.all(Array.from({ length: Math.min(BATCH, n - i) }, () => openConnection(port, path, answered))))
  }
  return clients
}

/** Waits until the server holds `n` requests to /held, within `ms`. */
async function allHeld (server, n, ms) {
  const until = Date.now() + ms
  for (;;) {
    const { count } = await server.ask('held', 'held')
    if (count >= n) return
    if (Date.now() > until) throw new Error(`${server.variant}: ${count} of ${n} requests reached the server`)
    await sleep(50)
  }
}

async function signalAndWait (server, cap, after = async () => {}) {
  const signalAt = now()
  server.child.kill('SIGTERM')
  await after()
  const exit = await within(server.exited, cap)
  if (!exit) {
    await server.kill()
    return { ms: null, capped: true, exit: 'killed at cap' }
  }
  const lastMoment = Number(/exited at ([\d.]+)/.exec(server.stderr)?.[1])
  return { ms: exit.at - signalAt, ownMs: Number.isFinite(lastMoment) ? lastMoment - signalAt : null, capped: false, exit: exit.code ?? exit.signal }
}

/** How the clients ended: their last status, or 'no answer'; counted. */
function tally (clients) {
  const counts = {}
  for (const client of clients) {
    const last = `${client.statuses.at(-1) ?? client.error ?? 'no answer'}${client.closed ? '' : ' (still open)'}`
    counts[last] = (counts[last] ?? 0) + 1
  }
  return counts
}

async function closeAll (clients) {
  for (const { socket } of clients) socket.destroy()
  await sleep(50)
}

async function idleCase (variant, n, { deadline, cap }) {
  const server = await startServer(variant, { deadline, exposeGc: true })
  let clients = []
  try {
    const before = await server.ask('mem', 'mem')
    clients = await openConnections(server.port, n, '/hello', { answered: true })
    const after = await server.ask('mem', 'mem')
    // Idle means idle: nothing answered in the last moments (the plugin lingers 250 ms after recent traffic).
    await sleep(QUIET_MS)
    const result = await signalAndWait(server, cap)
    await sleep(100)
    return { ...result, heapPerConnection: (after.heapUsed - before.heapUsed) / n, clients: tally(clients) }
  } finally {
    await server.kill()
    await closeAll(clients)
  }
}

async function heldCase (variant, n, { deadline, cap, releaseAfter }) {
  const server = await startServer(variant, { deadline })
  let clients = []
  try {
    clients = await openConnections(server.port, n, '/held', { answered: false })
    await allHeld(server, n, 30000)
    // A server that cut them all already (the cut starts early enough for the deadline) has exited by then.
    const release = releaseAfter === null ? undefined : async () => { await sleep(releaseAfter); await server.ask('release', 'released').catch(() => {}) }
    const result = await signalAndWait(server, cap, release)
    await sleep(100)
    return { ...result, clients: tally(clients) }
  } finally {
    await server.kill()
    await closeAll(clients)
  }
}

/** @param {{ sizes: number[], runs: number, deadline: number, cap: number, releaseAfter: number, log: (s: string) => void }} opts */
export async function runScale ({ sizes, runs, deadline, cap, releaseAfter, log }) {
  const bySize = {}
  for (const n of sizes) {
    const variants = Object.fromEntries(SCALE_VARIANTS.map((v) => [v, { idle: [], inflight: [], hung: [] }]))
    // Variants alternate run by run: neither always goes first on a machine that warms up or gets busy.
    for (let run = 0; run < runs; run++) {
      for (const variant of SCALE_VARIANTS) {
        const cases = variants[variant]
        for (const [name, measure] of [
          ['idle', () => idleCase(variant, n, { deadline, cap })],
          ['inflight', () => heldCase(variant, n, { deadline, cap, releaseAfter })],
          ['hung', () => heldCase(variant, n, { deadline, cap, releaseAfter: null })]
        ]) {
          try {
            const result = await measure()
            cases[name].push(result)
            log(`  scale N=${n} ${variant} ${name}: ${result.capped ? `> ${cap} ms (killed)` : `${Math.round(result.ms)} ms (its own last moment: ${Math.round(result.ownMs)} ms), exit ${result.exit}`}` +
              `${result.heapPerConnection === undefined ? '' : `, heap ${Math.round(result.heapPerConnection)} B/connection`}; clients ${JSON.stringify(result.clients)}`)
          } catch (err) {
            cases[name].push({ error: err.message })
            log(`  scale N=${n} ${variant} ${name}: FAILED ${err.message}`)
          }
        }
      }
    }
    bySize[n] = Object.fromEntries(Object.entries(variants).map(([variant, cases]) => [variant, Object.fromEntries(Object.entries(cases).map(([name, results]) => {
      const ok = results.filter((r) => !r.error)
      const timed = ok.filter((r) => !r.capped).map((r) => r.ms)
      return [name, {
        runs: results,
        ms: timed.length > 0 ? summarize(timed) : null,
        ownMs: timed.length > 0 ? summarize(ok.filter((r) => !r.capped).map((r) => r.ownMs ?? r.ms)) : null,
        cappedRuns: ok.length - timed.length,
        ...(name === 'idle' && ok.length > 0 ? { heapPerConnection: summarize(ok.map((r) => r.heapPerConnection)) } : {})
      }]
    }))]))
  }
  return { config: { sizes, runs, deadline, releaseAfter, cap }, sizes: bySize }
}
