// Measure 1: overhead per request. The same hello-world app, plain / a bare one-boolean onRequest
// hook / ours / under-pressure, all four servers up at once (pinned to core 0), loaded one at a time in rotating order by
// autocannon in this process (pinned to core 1). Per round: throughput and server CPU per
// request, each divided by plain's from the same round.
import autocannon from 'autocannon'
import { startServer, now } from './lib/proc.mjs'
import { summarize } from './lib/stats.mjs'

export const OVERHEAD_VARIANTS = ['plain', 'bare-hook', 'ours', 'under-pressure']

function cannon (port, amount, connections, pipelining = 1) {
  return new Promise((resolve, reject) => {
    autocannon({ url: `http://127.0.0.1:${port}/hello`, amount, connections, pipelining, timeout: 10, sampleInt: 10 }, (err, result) => {
      if (err) reject(err)
      else resolve(result)
    })
  })
}

async function oneRun (server, amount, connections, pipelining) {
  await server.ask('cpu-start', 'cpu-started')
  const t0 = now()
  const result = await cannon(server.port, amount, connections, pipelining)
  const wall = now() - t0
  const cpu = await server.ask('cpu-stop', 'cpu')
  const requests = result.requests.total
  const ok = result['2xx']
  if (ok !== requests || result.errors || result.timeouts) {
    throw new Error(`${server.variant}: ${ok}/${requests} 2xx, ${result.errors} errors, ${result.timeouts} timeouts`)
  }
  return {
    rps: requests / (wall / 1000),
    cpuUsPerRequest: (cpu.user + cpu.system) / requests,
    serverCpuShare: (cpu.user + cpu.system) / 1000 / wall
  }
}

/** @param {{ rounds: number, amount: number, warmup: number, connections: number, pipelining: number, log: (s: string) => void }} opts */
export async function runOverhead ({ rounds, amount, warmup, connections, pipelining, log = () => {} }) {
  const servers = {}
  const errors = {}
  for (const variant of OVERHEAD_VARIANTS) {
    try {
      servers[variant] = await startServer(variant, { core: 0 })
    } catch (err) {
      errors[variant] = err.message
    }
  }
  if (!servers.plain) throw new Error(`plain Fastify did not start: ${errors.plain}`)
  const live = OVERHEAD_VARIANTS.filter((v) => servers[v])
  const runs = Object.fromEntries(live.map((v) => [v, []]))
  const ratios = Object.fromEntries(live.map((v) => [v, { throughput: [], cpu: [] }]))

  try {
    for (const variant of live) await cannon(servers[variant].port, warmup, connections, pipelining)
    for (let round = 0; round < rounds; round++) {
      // Rotate the order so that no variant always runs first or right after another.
      const order = live.map((_, i) => live[(i + round) % live.length])
      const byVariant = {}
      for (const variant of order) {
        byVariant[variant] = await oneRun(servers[variant], amount, connections, pipelining)
        runs[variant].push(byVariant[variant])
      }
      for (const variant of live) {
        ratios[variant].throughput.push(byVariant[variant].rps / byVariant.plain.rps)
        ratios[variant].cpu.push(byVariant[variant].cpuUsPerRequest / byVariant.plain.cpuUsPerRequest)
      }
      log(`  overhead round ${round + 1}/${rounds}: ` + live.map((v) => `${v} ${Math.round(byVariant[v].rps)} req/s ${byVariant[v].cpuUsPerRequest.toFixed(1)} µs`).join(', '))
    }
  } finally {
    for (const server of Object.values(servers)) await server.kill()
  }

  const variants = {}
  for (const variant of OVERHEAD_VARIANTS) {
    if (errors[variant]) {
      variants[variant] = { error: errors[variant] }
      continue
    }
    variants[variant] = {
      throughputRatio: summarize(ratios[variant].throughput),
      cpuPerRequestRatio: summarize(ratios[variant].cpu),
      rps: summarize(runs[variant].map((r) => r.rps)),
      cpuUsPerRequest: summarize(runs[variant].map((r) => r.cpuUsPerRequest)),
      serverCpuShare: summarize(runs[variant].map((r) => r.serverCpuShare))
    }
  }
  return {
    config: { rounds, amount, warmup, connections, pipelining, pinned: servers.plain.pinned },
    targets: { throughputRatio: '>= 0.98', cpuPerRequestRatio: '<= 1.03' },
    variants
  }
}
