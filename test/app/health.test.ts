// Readiness and liveness: what a load balancer and an orchestrator ask before and during a shutdown.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { arrival, build } from '../helpers/app.ts'

t.test('no routes unless asked for', async t => {
  const { app } = await build()
  t.teardown(() => app.close())
  t.equal((await app.inject('/health/ready')).statusCode, 404)
})

t.test('readiness and liveness answer 200 while serving, GET and HEAD, and log nothing at info', async t => {
  const { app, logs } = await build({ health: true })
  t.teardown(() => app.close())
  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ok' })
  t.equal(ready.headers['cache-control'], 'no-store')
  t.equal((await app.inject({ method: 'HEAD', url: '/health/ready' })).statusCode, 200)
  const live = await app.inject('/health/live')
  t.equal(live.statusCode, 200)
  t.same(live.json(), { status: 'ok' })
  t.equal((await app.inject({ method: 'HEAD', url: '/health/live' })).statusCode, 200)
  t.same(logs.filter(line => line.req !== undefined || line.res !== undefined), [], 'no request log lines for probes')
})

t.test('during the drain readiness says 503, liveness still 200; both pass the gate', async t => {
  const { app } = await build({ health: true })
  t.teardown(() => app.close())
  const { arrived, reached } = arrival()
  app.get('/slow', async () => { arrived(); await sleep(100); return 'ok' })
  const slow = app.inject('/slow')
  await reached
  const drained = app.drain()
  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 503)
  t.same(ready.json(), { status: 'shutting down' })
  t.equal((await app.inject({ method: 'HEAD', url: '/health/ready' })).statusCode, 503)
  const live = await app.inject('/health/live')
  t.equal(live.statusCode, 200, 'the process is alive while it drains: no restart')
  t.equal((await app.inject('/other')).statusCode, 503, 'other routes are refused')
  await slow
  await drained
})

t.test('custom paths and a check: readiness fails while the check throws, rejects, answers false or hangs, without revealing why', async t => {
  let state: 'ok' | 'throw' | 'reject' | 'false' | 'resolve false' | 'hang' = 'ok'
  const { app } = await build({
    health: {
      readiness: '/ready',
      liveness: '/alive',
      check: () => {
        if (state === 'throw') throw new Error('secret db password in message')
        if (state === 'reject') return Promise.reject(new Error('secret'))
        if (state === 'false') return false
        if (state === 'resolve false') return Promise.resolve(false)
        if (state === 'hang') return new Promise(() => {})
        return undefined // a check that returns nothing passes
      }
    }
  })
  t.teardown(() => app.close())
  t.equal((await app.inject('/ready')).statusCode, 200)
  for (const failing of ['throw', 'reject', 'false', 'resolve false', 'hang'] as const) {
    state = failing
    const started = Date.now()
    const res = await app.inject('/ready')
    t.equal(res.statusCode, 503, `503 when the check does ${failing}`)
    t.same(res.json(), { status: 'unavailable' })
    t.notMatch(res.body, /secret/)
    t.ok(Date.now() - started < 3500, 'a check is bounded in time')
  }
  t.equal((await app.inject('/alive')).statusCode, 200, 'liveness does not run the check')
  state = 'ok'
  t.equal((await app.inject('/ready')).statusCode, 200)
  t.equal((await app.inject('/health/ready')).statusCode, 404)
})

t.test('a custom readiness path keeps the default liveness path', async t => {
  const { app } = await build({ health: { readiness: '/ready' } })
  t.teardown(() => app.close())
  t.equal((await app.inject('/ready')).statusCode, 200)
  t.equal((await app.inject('/health/live')).statusCode, 200)
})

t.test('health options are checked', async t => {
  const Fastify = (await import('fastify')).default
  const graceful = (await import('../../lib/index.ts')).default
  const cases: Array<[unknown, RegExp]> = [
    ['yes', /option "health" must be true, false or an object \{ readiness, liveness, check \}, got 'yes'/],
    [{ readiness: 'ready' }, /option "health.readiness" must be a path starting with "\/", got 'ready'/],
    [{ liveness: 5 }, /option "health.liveness" must be a path starting with "\/", got 5/],
    [{ check: 'db' }, /option "health.check" must be a function, got 'db'/],
    [{ readiness: '/x', liveness: '/x' }, /option "health.liveness" must be a path other than health.readiness \('\/x'\), got '\/x'/],
    [{ readyness: '/x' }, /unknown option "health.readyness" \(got '\/x'\); known options are: readiness, liveness, check/]
  ]
  for (const [health, message] of cases) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(graceful, { signals: false, health } as never) }, { message })
    await app.close()
  }
})
