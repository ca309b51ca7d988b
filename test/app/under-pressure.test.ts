// @fastify/under-pressure and fastify-graceful side by side, registered in either order.
import underPressure from '@fastify/under-pressure'
import Fastify from 'fastify'
import t from 'tap'
import graceful from '../../lib/index.ts'

async function build (order: 'graceful first' | 'under-pressure first', pressure: { on: boolean }) {
  const app = Fastify()
  const registerGraceful = () => app.register(graceful, { signals: false, health: true, retryAfter: 3 })
  const registerPressure = () => app.register(underPressure, { healthCheck: async () => !pressure.on, healthCheckInterval: 10, retryAfter: 10 })
  if (order === 'graceful first') {
    await registerGraceful()
    await registerPressure()
  } else {
    await registerPressure()
    await registerGraceful()
  }
  app.get('/', async () => 'ok')
  await app.ready()
  const settle = () => new Promise(resolve => setTimeout(resolve, 60))
  return { app, settle }
}

for (const order of ['graceful first', 'under-pressure first'] as const) {
  t.test(order, async t => {
    t.test('under pressure: its 503 on routes, and readiness 503 too; liveness still 200', async t => {
      const pressure = { on: false }
      const { app, settle } = await build(order, pressure)
      t.teardown(() => app.close())
      t.equal((await app.inject('/')).statusCode, 200)
      t.equal((await app.inject('/health/ready')).statusCode, 200)
      pressure.on = true
      await settle()
      const res = await app.inject('/')
      t.equal(res.statusCode, 503)
      t.equal(res.headers['retry-after'], '10', 'under-pressure\'s own answer')
      t.equal(res.json().code, 'FST_UNDER_PRESSURE')
      const ready = await app.inject('/health/ready')
      t.equal(ready.statusCode, 503, 'readiness says: send no traffic here')
      t.same(ready.json(), { status: 'unavailable' })
      t.equal((await app.inject('/health/live')).statusCode, 200, 'but the process is alive: no restart')
      pressure.on = false
      await settle()
      t.equal((await app.inject('/health/ready')).statusCode, 200)
    })

    t.test('shutting down: our 503 on routes, readiness 503', async t => {
      const { app } = await build(order, { on: false })
      t.teardown(() => app.close())
      await app.drain()
      const res = await app.inject('/')
      t.equal(res.statusCode, 503)
      t.equal(res.headers['retry-after'], '3', 'fastify-graceful\'s answer')
      t.equal(res.json().code, 'FST_GRACEFUL_SHUTTING_DOWN')
      t.same((await app.inject('/health/ready')).json(), { status: 'shutting down' })
      t.equal((await app.inject('/health/live')).statusCode, 200)
    })
  })
}
