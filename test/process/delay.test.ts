// The delay window: after the signal, keep serving while the load balancer notices readiness failing.
import http from 'node:http'
import t from 'tap'
import Fastify from 'fastify'
import graceful from '../../lib/index.ts'
import { start, summaryOf } from '../helpers/child.ts'
import { request } from '../helpers/http.ts'

t.test('during the delay requests are served with Connection: close and readiness fails; then the port closes', async t => {
  const child = await start('app.ts', { options: { delay: 600, health: true, timeout: 5000 } }, t)
  const port = child.ports[0]!
  const agent = new http.Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())
  const before = await request(port, '/', { agent })
  t.equal(before.headers?.connection, 'keep-alive')
  t.equal((await request(port, '/health/ready')).status, 200)
  const inflightAgent = new http.Agent({ keepAlive: true })
  t.teardown(() => inflightAgent.destroy())
  const inflight = request(port, '/slow?ms=200', { agent: inflightAgent })
  await child.waitFor(line => line.req?.url === '/slow?ms=200')
  const signalledAt = Date.now()
  child.process.kill('SIGTERM')
  await child.waitFor(line => line.graceful?.event === 'start')
  const answered = await inflight
  t.equal(answered.status, 200, 'a request in flight at the signal finishes during the delay')
  t.equal(answered.headers?.connection, 'close', 'and its client is asked to reconnect elsewhere too')

  const served = await request(port, '/', { agent })
  t.equal(served.reused, true)
  t.equal(served.status, 200, 'served during the delay')
  t.equal(served.headers?.connection, 'close', 'but the client is asked to take its connection elsewhere')
  const ready = await request(port, '/health/ready')
  t.equal(ready.status, 503, 'readiness fails from the first moment')
  t.equal((await request(port, '/health/live')).status, 200)

  // Admitted during the delay, still running when the drain begins at 600 ms.
  const slow = request(port, '/slow?ms=800')
  while (Date.now() - signalledAt < 750) await new Promise(resolve => setTimeout(resolve, 25))
  const refused = await request(port, '/', { agent: new http.Agent() })
  t.equal(refused.error, 'ECONNREFUSED', 'after the delay, the port is closed')
  t.equal((await slow).status, 200, 'the request admitted during the delay finishes')
  const { code } = await child.exited()
  t.equal(code, 0)
  const summary = summaryOf(child)!
  t.ok(summary.durationMs.delay >= 550 && summary.durationMs.delay < 3000, `the delay phase took ${summary.durationMs.delay} ms`)
})

t.test('app.close() during the delay window ends the window at once and finishes the shutdown', async t => {
  const child = await start('app.ts', { options: { delay: 10_000, timeout: 20_000 } }, t)
  const signalledAt = Date.now()
  child.process.kill('SIGTERM')
  await child.waitFor(line => line.graceful?.event === 'start')
  t.equal((await request(child.ports[0]!, '/admin/close', { method: 'POST' })).status, 200)
  const { code, at } = await child.exited()
  t.equal(code, 0)
  t.ok(at - signalledAt < 3000, `exited ${at - signalledAt} ms after the signal, not after the 10 s delay`)
  t.match(summaryOf(child), { cause: 'SIGTERM', exitCode: 0 })
})

t.test('on Kubernetes the delay defaults to 5000 ms', async t => {
  const child = await start('app.ts', { options: { timeout: 10_000 } }, t, { env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' } })
  const signalledAt = Date.now()
  child.process.kill('SIGTERM')
  await child.waitFor(line => line.graceful?.event === 'start')
  t.equal((await request(child.ports[0]!, '/')).status, 200, 'still serving right after the signal')
  const { code, at } = await child.exited()
  t.equal(code, 0)
  t.ok(at - signalledAt >= 5000 && at - signalledAt < 9000, `exited ${at - signalledAt} ms after the signal`)
})

t.test('app.drain() during the delay ends the delay at once', async t => {
  const app = Fastify()
  await app.register(graceful, { signals: false, delay: 20_000 })
  await app.ready()
  const started = Date.now()
  await app.drain()
  await app.close()
  t.ok(Date.now() - started < 3000, 'a direct drain or close has no delay window')
})

t.test('a delay that leaves no room for the drain and the hooks is refused, naming both values', async t => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ delay: 25_000 }, /delay \(25000 ms\) leaves no room inside timeout \(30000 ms\) for the drain and the hooks: keep at least 10000 ms after the delay/],
    [{ delay: 3000, timeout: 5000 }, /delay \(3000 ms\) leaves no room inside timeout \(5000 ms\).*at least 2500 ms/],
    [{ delay: -1 }, /option "delay" must be a number of milliseconds from 0 to 2147483647, got -1/],
    [{ delay: '5s' }, /option "delay" must be a number.*got '5s'/],
    [{ maxDelay: 25_000 }, /maxDelay \(25000 ms\) leaves no room inside timeout \(30000 ms\).*after the maxDelay.*lowering maxDelay/],
    [{ delay: 3000, maxDelay: 2000 }, /option "maxDelay" must be at least delay \(3000 ms\), got 2000/],
    [{ maxDelay: -5 }, /option "maxDelay" must be a number of milliseconds from 0 to 2147483647, got -5/]
  ]
  for (const [options, message] of cases) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(graceful, { signals: false, ...options } as never) }, { message })
    await app.close()
  }
  const app = Fastify()
  await app.register(graceful, { signals: false, delay: 20_000 })
  await app.close()
  t.pass('delay 20000 within the default 30000 leaves the 10000 ms hookTimeout')
  const bound = Fastify()
  await bound.register(graceful, { signals: false, delay: 1000, maxDelay: 20_000 })
  await bound.close()
  t.pass('maxDelay up to the same room is accepted')
})

t.test('the Kubernetes default is named in the error when it does not fit', async t => {
  process.env.KUBERNETES_SERVICE_HOST = '10.0.0.1'
  t.teardown(() => { delete process.env.KUBERNETES_SERVICE_HOST })
  const app = Fastify()
  await t.rejects(async () => { await app.register(graceful, { signals: false, timeout: 6000 }) }, {
    code: 'FST_GRACEFUL_DELAY_TOO_LONG',
    message: /delay \(5000 ms \(the default on Kubernetes, where KUBERNETES_SERVICE_HOST is set\)\) leaves no room inside timeout \(6000 ms\)/
  })
  await app.close()
})
