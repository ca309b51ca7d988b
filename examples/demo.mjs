// npm run demo: an app under keep-alive load gets SIGTERM mid-flight, with and without the plugin.
import { spawn } from 'node:child_process'
import http from 'node:http'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'

const WORKERS = 32
const CAP_MS = 5000

function request (port, agent, worker, n, path) {
  const post = path === undefined && (worker + n) % 3 === 0
  return new Promise(resolve => {
    const req = http.request({ host: '127.0.0.1', port, agent, method: post ? 'POST' : 'GET', path: path ?? (post ? '/orders' : `/orders/${n}`), headers: { 'content-type': 'application/json' } }, res => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode, connection: res.headers.connection }))
    })
    req.setTimeout(CAP_MS, () => req.destroy(new Error('ETIMEDOUT')))
    req.on('error', err => resolve({ error: err.code ?? err.message, reused: req.reusedSocket }))
    req.end(post ? JSON.stringify({ item: n }) : undefined)
  })
}

async function scenario (label, env) {
  const child = spawn(process.execPath, [new URL('./demo-app.mjs', import.meta.url).pathname], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = []
  const output = createInterface({ input: child.stdout })
  const port = await new Promise((resolve, reject) => {
    output.on('line', text => {
      const line = JSON.parse(text)
      lines.push(line)
      if (line.port) resolve(line.port)
    })
    child.once('exit', () => reject(new Error(`${label}: the app exited before listening`)))
  })
  const exited = new Promise(resolve => child.once('exit', code => resolve({ code, at: Date.now() })))
  const agent = new http.Agent({ keepAlive: true, maxSockets: WORKERS })
  const answers = []
  const state = { gone: false }
  const until = Date.now() + 1500 + CAP_MS
  exited.then(() => { state.gone = true })
  const workers = Array.from({ length: WORKERS }, async (_, worker) => {
    for (let n = 0; !state.gone && Date.now() < until; n++) {
      const answer = await request(port, agent, worker, n)
      answers.push(answer)
      if (answer.error === 'ECONNREFUSED') return
    }
  })
  // A quiet client, like an upstream's connection pool: one request in flight at SIGTERM, then nothing.
  const quietAgent = new http.Agent({ keepAlive: true })
  await sleep(1450)
  const quiet = request(port, quietAgent, 0, 0, '/report')
  await sleep(50)
  const signalledAt = Date.now()
  child.kill('SIGTERM')
  const ended = await Promise.race([exited, sleep(CAP_MS, null)])
  if (ended === null) child.kill('SIGKILL')
  await Promise.all(workers)
  const quietAnswer = await quiet
  agent.destroy()
  quietAgent.destroy()

  const count = match => answers.filter(match).length
  return {
    label,
    exit: ended === null ? `still running ${CAP_MS / 1000} s after SIGTERM: killed` : `exit code ${ended.code}, ${ended.at - signalledAt} ms after SIGTERM`,
    answered: count(a => a.status >= 200 && a.status < 300),
    refused: count(a => a.status === 503),
    diedOnReusedSocket: count(a => a.error !== undefined && a.reused),
    freshConnectionFailed: count(a => a.error !== undefined && !a.reused),
    quiet: quietAnswer.status === undefined ? `failed: ${quietAnswer.error}` : `${quietAnswer.status} with Connection: ${quietAnswer.connection}`,
    summary: lines.find(line => line.graceful?.event === 'end')?.graceful,
    hooks: lines.filter(line => line.graceful?.event === 'hook').map(line => `${line.graceful.hook} (${line.graceful.outcome}, ${Math.round(line.graceful.durationMs)} ms)`)
  }
}

console.log(`Demo: ${WORKERS} busy keep-alive clients (GET and POST, 20-400 ms of work each) and one quiet keep-alive client\n` +
  '(one 400 ms request in flight at SIGTERM, then idle) on an orders API; SIGTERM after 1.5 s.\n')
for (const run of [await scenario('with fastify-graceful', {}), await scenario('plain Fastify: process.on(SIGTERM, () => app.close())', { PLAIN: '1' })]) {
  console.log(`== ${run.label}`)
  console.log(`   ${run.exit}`)
  console.log(`   the quiet client's request in flight: ${run.quiet}`)
  console.log(`   requests answered ${run.answered}, refused with 503 ${run.refused}, died on a reused keep-alive socket ${run.diedOnReusedSocket}, failed to connect after the port closed ${run.freshConnectionFailed}`)
  if (run.summary !== undefined) {
    const { durationMs: d, requests: r } = run.summary
    console.log(`   phases: drain ${Math.round(d.drain)} ms, close ${Math.round(d.close)} ms, hooks ${Math.round(d.hooks)} ms, total ${Math.round(d.total)} ms (${r.drained} in-flight requests drained, ${r.cut} cut)`)
    console.log(`   hooks, in the order they ran: ${run.hooks.join(' → ')}`)
  }
  console.log('')
}
