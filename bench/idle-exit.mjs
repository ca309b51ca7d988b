// SIGTERM → exit with nothing in flight, plain Fastify and the plugin side by side, interleaved:
// `node bench/idle-exit.mjs [--runs 12] [--sockets 8] [variant ...]` (default variants: plain ours).
// A variant `ours=<dir>` loads the plugin built into another folder (a choice being measured).
// Prints each variant's median, quartiles and its difference and ratio to plain's median in the same run.
import { startServer, now } from './lib/proc.mjs'
import { request, newAgent } from './lib/client.mjs'
import { summarize, fmt } from './lib/stats.mjs'

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const at = args.indexOf(name)
  if (at < 0) return fallback
  const [value] = args.splice(at, 2).slice(1)
  return Number(value)
}
const runs = option('--runs', 12)
const sockets = option('--sockets', 8)
const variants = args.length > 0 ? args : ['plain', 'ours']
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** One process: `sockets` keep-alive sockets served one request each, quiet for 1 s, then SIGTERM. */
async function once (variant) {
  const server = await startServer(variant, { deadline: 10000, core: 0 })
  const agents = Array.from({ length: sockets }, newAgent)
  try {
    await Promise.all(agents.map((agent) => request(agent, { port: server.port, path: '/hello' })))
    await sleep(1000)
    const sent = now()
    server.child.kill('SIGTERM')
    const exit = await Promise.race([server.exited, sleep(5000).then(() => null)])
    if (exit === null) throw new Error(`${variant}: no exit within 5 s of SIGTERM`)
    return { ms: exit.at - sent, code: exit.code }
  } finally {
    for (const agent of agents) agent.destroy()
    await server.kill()
  }
}

const results = Object.fromEntries(variants.map((variant) => [variant, []]))
for (let run = 0; run < runs; run++) {
  // Alternate the variants, and their order, so drift on the machine hits them alike.
  const order = run % 2 === 0 ? variants : [...variants].reverse()
  for (const variant of order) {
    const { ms, code } = await once(variant)
    if (code !== 0) throw new Error(`${variant}: exit code ${code}`)
    results[variant].push(ms)
  }
}

const plain = summarize(results[variants[0]]).median
console.log(`SIGTERM → exit, ${sockets} idle keep-alive sockets, ${runs} interleaved runs (ms; against ${variants[0]})`)
console.log('| variant | median | p25–p75 | min–max | − ' + variants[0] + ' | ÷ ' + variants[0] + ' |')
console.log('|---|---|---|---|---|---|')
for (const variant of variants) {
  const s = summarize(results[variant])
  console.log(`| ${variant} | ${fmt(s.median, 1)} | ${fmt(s.p25, 1)}–${fmt(s.p75, 1)} | ${fmt(s.min, 1)}–${fmt(s.max, 1)} | ` +
    `${fmt(s.median - plain, 1)} | ${fmt(s.median / plain, 2)} |`)
}
