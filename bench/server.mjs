// One bench server in its own process: `node bench/server.mjs <variant>`.
// Talks to the harness over IPC: reports its port and what happens inside, answers
// cpu/memory probes. BENCH_DEADLINE_MS sets every variant's own time limit.
import { writeSync } from 'node:fs'
import { buildApp, held } from './app.mjs'

const variant = process.argv[2]
const deadline = Number(process.env.BENCH_DEADLINE_MS) || 10000

function notify (message) {
  if (process.connected) process.send(message)
}

let cpuStart = null

process.on('message', (message) => {
  switch (message.cmd) {
    case 'cpu-start':
      cpuStart = process.cpuUsage()
      notify({ type: 'cpu-started' })
      break
    case 'cpu-stop': {
      const used = process.cpuUsage(cpuStart)
      notify({ type: 'cpu', user: used.user, system: used.system })
      break
    }
    case 'held':
      notify({ type: 'held', count: held.count })
      break
    case 'release':
      held.release()
      notify({ type: 'released' })
      break
    case 'mem': {
      // Twice: the second pass collects what the first one's finalizers released.
      if (global.gc) { global.gc(); global.gc() }
      const { heapUsed, rss } = process.memoryUsage()
      notify({ type: 'mem', heapUsed, rss })
      break
    }
  }
})

// The process's own last moment, on the same clock as the harness (performance.timeOrigin + now): a harness busy
// with thousands of sockets of its own learns of the exit later than it happens.
process.on('exit', () => { writeSync(2, `\nexited at ${performance.timeOrigin + performance.now()}\n`) })

// The harness may vanish; the IPC channel must not keep a shutting-down server alive.
process.channel?.unref()

try {
  const app = await buildApp(variant, { deadline, notify })
  await app.listen({ host: '127.0.0.1', port: 0 })
  notify({ type: 'ready', port: app.server.address().port, pid: process.pid })
} catch (err) {
  console.error(err)
  notify({ type: 'failed', error: String(err && err.message) })
  process.exit(1)
}
