// Registered inside an encapsulated plugin, the gate covers that plugin's routes only: the first request of a
// shutdown answered by a route outside it logs a warning (and a process warning) that names the fix.
// The drain closes the port: requests during it go out on keep-alive connections opened before, or through inject().
import Fastify from 'fastify'
import { once } from 'node:events'
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { Writable } from 'node:stream'
import t from 'tap'
import graceful from '../../lib/index.ts'
import { request } from '../helpers/http.ts'

interface Served {
  app: ReturnType<typeof Fastify>
  drain: () => Promise<unknown>
  port: number
  agent: http.Agent
  other: http.Agent
  logs: Array<Record<string, any>>
  slowArrived: Promise<void>
}

async function serve (where: 'child' | 'root'): Promise<Served> {
  const logs: Array<Record<string, any>> = []
  const stream = new Writable({ write (chunk, _encoding, callback) { logs.push(JSON.parse(String(chunk))); callback() } })
  const app = Fastify({ logger: { level: 'info', stream } })
  app.get('/parent', async () => ({ parent: true }))
  app.get('/parent/slow', async () => { await sleep(50); return { parent: true } })
  if (where === 'root') await app.register(graceful, { signals: false })
  let owner: { drain (): Promise<unknown> } = app as never
  let arrived!: () => void
  const slowArrived = new Promise<void>(resolve => { arrived = resolve })
  await app.register(async function child (instance) {
    if (where === 'child') {
      await instance.register(graceful, { signals: false })
      owner = instance as never
    }
    instance.get('/child/slow', async () => { arrived(); await sleep(300); return { slow: true } })
    instance.get('/child', async () => ({ child: true }))
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const other = new http.Agent({ keepAlive: true, maxSockets: 1 })
  await Promise.all([request(port, '/parent', { agent }), request(port, '/parent', { agent: other })])
  return { app, drain: () => owner.drain(), port, agent, other, logs, slowArrived }
}

t.test('registered in a child plugin: a parent route answering during the drain is reported once, with the fix', async t => {
  const { app, drain, port, agent, logs, slowArrived } = await serve('child')
  t.teardown(() => { agent.destroy(); return app.close() })
  const warning = once(process, 'warning')
  const slow = request(port, '/child/slow')
  await slowArrived
  const drained = drain()
  t.equal((await app.inject('/child')).statusCode, 503, 'the child\'s own routes are gated')
  const outside = await request(port, '/parent', { agent })
  t.equal(outside.status, 200, 'the parent route is outside the gate')
  t.equal(outside.headers?.connection, 'keep-alive', 'and its connection is not asked to close')
  t.equal((await request(port, '/parent', { agent })).status, 200)
  const [emitted] = await warning as [Error & { code: string }]
  t.equal(emitted.code, 'FST_GRACEFUL_ENCAPSULATED')
  t.match(emitted.message, /GET \/parent was answered 200 during the shutdown without passing the shutdown gate.*Register it on the root instance, or wrap the plugin that registers it with fastify-plugin/)
  t.equal(logs.filter(line => line.graceful?.event === 'warning').length, 1, 'said once')
  t.equal((await slow).status, 200)
  await drained
})

t.test('registered in a child plugin: two requests outside the gate that finish together are reported once', async t => {
  const { app, drain, port, agent, other, logs, slowArrived } = await serve('child')
  t.teardown(() => { agent.destroy(); other.destroy(); return app.close() })
  const slow = request(port, '/child/slow')
  await slowArrived
  const drained = drain()
  const both = await Promise.all([request(port, '/parent/slow', { agent }), request(port, '/parent/slow', { agent: other })])
  t.same(both.map(answer => answer.status), [200, 200])
  t.equal(logs.filter(line => line.graceful?.event === 'warning').length, 1, 'said once')
  t.equal((await slow).status, 200)
  await drained
})

t.test('registered on the root: every route is gated and nothing is reported', async t => {
  const { app, drain, port, agent, logs, slowArrived } = await serve('root')
  t.teardown(() => { agent.destroy(); return app.close() })
  const slow = request(port, '/child/slow')
  await slowArrived
  const drained = drain()
  t.equal((await app.inject('/parent')).statusCode, 503)
  t.equal((await app.inject('/nowhere')).statusCode, 503, 'not-found requests are gated too')
  const last = await request(port, '/parent', { agent })
  t.equal(last.headers?.connection, 'close', 'the open connection\'s next request passed the gate: served as its last')
  t.equal((await slow).status, 200)
  await drained
  t.equal(logs.filter(line => line.graceful?.event === 'warning').length, 0)
})

t.test('registered on the root: a request answered while the pre-drain hooks run passed the gate, and nothing is reported', async t => {
  const { app, drain, port, agent, logs } = await serve('root')
  t.teardown(() => { agent.destroy(); return app.close() })
  let hookStarted!: () => void
  const hookRunning = new Promise<void>(resolve => { hookStarted = resolve })
  let letGo!: () => void
  const held = new Promise<void>(resolve => { letGo = resolve })
  app.addShutdownHook('deregister', async () => { hookStarted(); await held }, { phase: 'preDrain' })
  const drained = drain()
  await hookRunning
  t.equal(app.isShuttingDown, true, 'precondition: the shutdown has begun')
  const during = await request(port, '/parent', { agent })
  t.equal(during.status, 200, 'admission is still open while the pre-drain hooks run')
  letGo()
  await drained
  t.equal(logs.filter(line => line.graceful?.event === 'warning').length, 0, 'the request was seen passing the gate')
})

t.test('on the root, a serverFactory handler that answers some URLs itself: no warning (nothing is encapsulated)', async t => {
  const logs: Array<Record<string, any>> = []
  const stream = new Writable({ write (chunk, _encoding, callback) { logs.push(JSON.parse(String(chunk))); callback() } })
  const serverFactory = (handler: http.RequestListener): http.Server => http.createServer((req, res) => {
    // A metrics endpoint answered outside Fastify, on purpose.
    if (req.url === '/metrics') res.end('up 1\n')
    else handler(req, res)
  })
  const app = Fastify({ logger: { level: 'info', stream }, serverFactory })
  await app.register(graceful, { signals: false })
  let arrived!: () => void
  const slowArrived = new Promise<void>(resolve => { arrived = resolve })
  app.get('/slow', async () => { arrived(); await sleep(300); return { slow: true } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => { agent.destroy(); return app.close() })
  await request(port, '/metrics', { agent })
  const slow = request(port, '/slow')
  await slowArrived
  const warned = once(process, 'warning').then(() => true)
  const drained = app.drain()
  t.equal((await request(port, '/metrics', { agent })).status, 200, 'answered by the server\'s own handler')
  t.equal((await slow).status, 200)
  await drained
  t.notOk(await Promise.race([warned, sleep(50).then(() => false)]), 'no process warning')
  t.equal(logs.filter(line => line.graceful?.event === 'warning').length, 0, 'no FST_GRACEFUL_ENCAPSULATED warning with a wrong diagnosis')
})
