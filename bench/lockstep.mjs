// The lockstep measure: per-request CPU of many server processes side by side, so that the
// machine's noise hits them all alike. Every server is pinned to core 0; this process (the client)
// to core 1. Each worker sends one request to every server in turn, in rotated order, over its own
// keep-alive socket per server; each server's CPU time (process.cpuUsage() over the same window) is
// divided by plain Fastify's (the median of the plain processes) in the same round.
//
//   node bench/lockstep.mjs [--quick] [--rounds 3] [--requests 20000] [--processes plain:3,bare-hook:3,graceful:6]
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { pin, processNames, startNamed } from './lib/proc.mjs'
import { summarize, fmt, table } from './lib/stats.mjs'

export const LOCKSTEP_PROCESSES = { plain: 3, 'bare-hook': 3, graceful: 6 }

const REQUEST = Buffer.from('GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 'latin1')

// One keep-alive connection that sends one request at a time and resolves on the whole response.
export function connect (port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.setNoDelay(true)
    let pending = null
    let buffered = ''
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1')
      const end = buffered.indexOf('\r\n\r\n')
      if (end < 0) return
      const head = buffered.slice(0, end)
      const at = head.indexOf('content-length: ')
      const length = at < 0 ? 0 : parseInt(head.slice(at + 16), 10)
      if (buffered.length < end + 4 + length) return
      const ok = head.startsWith('HTTP/1.1 200')
      buffered = buffered.slice(end + 4 + length)
      const done = pending
      pending = null
      if (ok) done.resolve()
      else done.reject(new Error(`unexpected answer: ${head.split('\r\n')[0]}`))
    })
    socket.on('error', (err) => { if (pending) pending.reject(err); else reject(err) })
    socket.on('close', () => { if (pending) pending.reject(new Error('connection closed')) })
    socket.once('connect', () => resolve({
      get () {
        return new Promise((resolve, reject) => {
          pending = { resolve, reject }
          socket.write(REQUEST)
        })
      },
      close () { socket.destroy() }
    }))
  })
}

// `requests` to every server, each worker walking all servers per step in an order rotated by step and worker.
async function lockstep (workers, requests) {
  const perWorker = Math.ceil(requests / workers.length)
  await Promise.all(workers.map(async (conns, w) => {
    const n = conns.length
    for (let step = 0; step < perWorker; step++) {
      const shift = (step + w) % n
      for (let i = 0; i < n; i++) await conns[(i + shift) % n].get()
    }
  }))
  return perWorker * workers.length
}

/**
 * @param {{ rounds: number, requests: number, warmup: number, workers: number,
 *   processes?: Record<string, number>, log?: (s: string) => void }} opts
 */
export async function runLockstep ({ rounds, requests, warmup, workers: workerCount, processes = LOCKSTEP_PROCESSES, log = () => {} }) {
  const servers = []
  const workers = []
  try {
    for (const name of processNames(processes)) {
      const server = await startNamed(name, { core: 0 })
      server.variant = name.split('#')[0]
      server.name = name
      servers.push(server)
    }
    for (let w = 0; w < workerCount; w++) workers.push(await Promise.all(servers.map((s) => connect(s.port))))

    await lockstep(workers, warmup)
    const perRound = []
    for (let round = 0; round < rounds; round++) {
      await Promise.all(servers.map((s) => s.ask('cpu-start', 'cpu-started')))
      const t0 = performance.now()
      const sent = await lockstep(workers, requests)
      const seconds = (performance.now() - t0) / 1000
      const used = await Promise.all(servers.map((s) => s.ask('cpu-stop', 'cpu')))
      const cpu = used.map((u) => u.user + u.system)
      const plain = summarize(cpu.filter((_, i) => servers[i].variant.split('@')[0] === 'plain')).median
      const ratios = cpu.map((c) => c / plain)
      perRound.push({ sent, seconds, cpuUsPerRequest: cpu.map((c) => c / sent), ratios })
      log(`  lockstep round ${round + 1}/${rounds}: ${sent} requests per server in ${seconds.toFixed(1)} s, plain ${(plain / sent).toFixed(1)} µs/request; ` +
        servers.map((s, i) => `${s.name} ${ratios[i].toFixed(3)}`).join(', '))
    }

    const byProcess = servers.map((s, i) => ({
      name: s.name,
      variant: s.variant,
      ratio: summarize(perRound.map((r) => r.ratios[i])),
      cpuUsPerRequest: summarize(perRound.map((r) => r.cpuUsPerRequest[i]))
    }))
    const variants = {}
    for (const variant of Object.keys(processes)) {
      const mine = byProcess.filter((p) => p.variant === variant)
      const medians = mine.map((p) => p.ratio.median)
      variants[variant] = { processes: mine.length, ratio: summarize(medians), perProcess: medians }
    }
    return {
      config: { rounds, requests, warmup, workers: workerCount, processes, pinned: servers[0].pinned },
      targets: { medianRatio: '<= 1.01', maxProcessRatio: '<= 1.03' },
      rounds: perRound.map((r) => ({ sent: r.sent, seconds: r.seconds })),
      byProcess,
      variants
    }
  } finally {
    for (const conns of workers) for (const c of conns) c.close()
    for (const server of servers) await server.kill()
  }
}

export function lockstepReport (r) {
  const c = r.config
  return `### Lockstep: CPU per request against plain Fastify (${Object.entries(c.processes).map(([v, n]) => `${n}× ${v}`).join(', ')}; ${c.rounds} round(s) × ${c.requests} requests per server)\n` +
    'per process: the median of its rounds\' ratios to plain Fastify (median of the plain processes) in the same round; per variant: min / median / max over its processes\n\n' +
    table(['variant', 'processes', 'min', 'median', 'max', 'every process'],
      Object.entries(r.variants).map(([v, x]) => [v, x.processes, fmt(x.ratio.min), fmt(x.ratio.median), fmt(x.ratio.max), x.perProcess.map((p) => fmt(p)).join(' ')]))
}

export function parseProcesses (spec) {
  return Object.fromEntries(spec.split(',').map((part) => {
    const [variant, n] = part.split(':')
    return [variant, Number(n) || 1]
  }))
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const value = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback)
  const quick = args.includes('--quick')
  pin(process.pid, 1)
  const result = await runLockstep({
    rounds: Number(value('--rounds', quick ? 2 : 3)),
    requests: Number(value('--requests', quick ? 500 : 20000)),
    warmup: Number(value('--warmup', quick ? 500 : 10000)),
    workers: Number(value('--workers', 4)),
    processes: parseProcesses(value('--processes', quick ? 'plain:1,bare-hook:1,graceful:2' : 'plain:3,bare-hook:3,graceful:6')),
    log: (line) => console.log(line)
  })
  console.log('\n' + lockstepReport(result))
  if (args.includes('--json')) console.log(JSON.stringify(result))
}
