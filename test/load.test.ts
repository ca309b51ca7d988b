// Many keep-alive clients hammering while SIGTERM arrives: every request gets an HTTP answer
// (200, or a clean 503 once admission closed); none dies on a reused socket.
import http from 'node:http'
import t from 'tap'
import { start, summaryOf } from './helpers/child.ts'
import { request, type Answer } from './helpers/http.ts'

const WORKERS = 64

t.test(`${WORKERS} keep-alive workers across a SIGTERM: no request dies on a reused socket`, async t => {
  const child = await start('app.ts', { options: { timeout: 10_000 } }, t)
  const port = child.ports[0]!
  const agent = new http.Agent({ keepAlive: true, maxSockets: WORKERS })
  t.teardown(() => agent.destroy())
  const answers: Answer[] = []
  const state = { stopped: false }
  const until = Date.now() + 15_000
  child.process.once('exit', () => { state.stopped = true })

  async function worker (n: number): Promise<void> {
    for (let i = 0; !state.stopped && Date.now() < until; i++) {
      const post = (n + i) % 2 === 0
      const answer = await request(port, post ? '/echo' : `/slow?ms=${i % 5}`, { agent, method: post ? 'POST' : 'GET', body: post ? '{"n":1}' : undefined, timeout: 5000 })
      answers.push(answer)
      // Once the port is closed there is nobody left to ask.
      if (answer.error === 'ECONNREFUSED') return
    }
  }

  const workers = Array.from({ length: WORKERS }, (_, n) => worker(n))
  // Let the load settle in, then deploy.
  while (answers.length < 2000) await new Promise(resolve => setTimeout(resolve, 20))
  child.process.kill('SIGTERM')
  await Promise.all(workers)
  const { code } = await child.exited()

  const ok = answers.filter(answer => answer.status === 200).length
  const refused = answers.filter(answer => answer.status === 503).length
  const diedReused = answers.filter(answer => answer.error !== undefined && answer.reused)
  const diedFresh = answers.filter(answer => answer.error !== undefined && !answer.reused)
  const other = answers.filter(answer => answer.status !== undefined && answer.status !== 200 && answer.status !== 503)
  const count = (error: string): number => diedFresh.filter(answer => answer.error === error).length
  t.comment(`answered ${ok}, refused ${refused}, died on a reused socket ${diedReused.length}, fresh connection refused ${count('ECONNREFUSED')}, reset ${count('ECONNRESET')}`)
  t.equal(code, 0)
  t.ok(ok > 2000)
  t.equal(diedReused.length, 0, `died on a reused socket: ${JSON.stringify(diedReused.slice(0, 3))}`)
  t.equal(other.length, 0, 'no other status')
  t.ok(diedFresh.every(answer => answer.error === 'ECONNREFUSED' || answer.error === 'ECONNRESET'), 'a fresh connection can only be refused once the port closed, or reset before its request was read')
  t.match(summaryOf(child), { exitCode: 0, requests: { cut: 0 } })
})
