// Measure 4: memory after many requests through the gate, against plain Fastify.
// Heap and RSS after a forced GC in the server, at checkpoints over N keep-alive requests,
// then after C short-lived connections (one request each). Growth that scales with requests
// or connections shows up as a slope; a flat line is the goal.
import autocannon from 'autocannon'
import { startServer } from './lib/proc.mjs'

export const MEMORY_VARIANTS = ['plain', 'ours']

function cannon (port, opts) {
  return new Promise((resolve, reject) => {
    autocannon({ url: `http://127.0.0.1:${port}/hello`, timeout: 10, sampleInt: 50, ...opts }, (err, result) => {
      if (err) return reject(err)
      if (result.errors || result.timeouts || result['2xx'] !== result.requests.total) {
        return reject(new Error(`${result['2xx']}/${result.requests.total} 2xx, ${result.errors} errors, ${result.timeouts} timeouts`))
      }
      resolve(result)
    })
  })
}

// Least-squares slope of y over x.
function slope (points) {
  const n = points.length
  const mx = points.reduce((s, p) => s + p.x, 0) / n
  const my = points.reduce((s, p) => s + p.y, 0) / n
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0)
  const sxy = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0)
  return sxx === 0 ? 0 : sxy / sxx
}

async function measureVariant (variant, { requests, checkpoints, connections, churn, warmup, log }) {
  const server = await startServer(variant, { core: 0, exposeGc: true })
  try {
    const samples = []
    const sample = async (label, served, opened) => {
      const mem = await server.ask('mem', 'mem')
      samples.push({ label, requests: served, connections: opened, heapUsed: mem.heapUsed, rss: mem.rss })
      log(`  memory ${variant} ${label}: heap ${(mem.heapUsed / 1048576).toFixed(2)} MiB, rss ${(mem.rss / 1048576).toFixed(1)} MiB`)
    }
    await cannon(server.port, { amount: warmup, connections })
    await sample('after warm-up', 0, 0)
    const step = Math.ceil(requests / checkpoints)
    let served = 0
    while (served < requests) {
      const amount = Math.min(step, requests - served)
      await cannon(server.port, { amount, connections })
      served += amount
      await sample(`${served} requests`, served, 0)
    }
    // A new connection for every request.
    await cannon(server.port, { amount: churn, connections: Math.min(32, churn), reconnectRate: 1 })
    await sample(`+ ${churn} connections`, served, churn)

    // From the first checkpoint on: the first block still settles inline caches and pools.
    const base = samples[1]
    const end = samples[samples.length - 2]
    const afterChurn = samples[samples.length - 1]
    const overRequests = samples.slice(1, -1).map((s) => ({ x: s.requests, y: s.heapUsed }))
    return {
      samples,
      heapGrowth: end.heapUsed - base.heapUsed,
      rssGrowth: end.rss - base.rss,
      heapBytesPer100kRequests: overRequests.length > 1 ? slope(overRequests) * 100000 : null,
      heapGrowthAfterChurn: afterChurn.heapUsed - end.heapUsed,
      heapBytesPerConnection: (afterChurn.heapUsed - end.heapUsed) / churn
    }
  } finally {
    await server.kill()
  }
}

/** @param {{ requests: number, checkpoints: number, connections: number, churn: number, warmup: number, log: (s: string) => void }} opts */
export async function runMemory (opts) {
  const variants = {}
  for (const variant of MEMORY_VARIANTS) {
    try {
      variants[variant] = await measureVariant(variant, opts)
    } catch (err) {
      variants[variant] = { error: err.message }
    }
  }
  const plain = variants.plain
  for (const variant of MEMORY_VARIANTS) {
    const v = variants[variant]
    if (v.error || plain.error) continue
    const last = v.samples[v.samples.length - 1]
    const plainLast = plain.samples[plain.samples.length - 1]
    v.heapRatioToPlain = last.heapUsed / plainLast.heapUsed
    v.rssRatioToPlain = last.rss / plainLast.rss
  }
  const { log, ...config } = opts
  return {
    config,
    targets: { heap: 'no growth that scales with requests or connections (slope ~ plain\'s)' },
    variants
  }
}
