// A direct app.close() (tests, embedding) drains before Fastify's own close step begins.
// avvio times every preClose hook with pluginTimeout; the drain must not depend on it.
import websocket from '@fastify/websocket'
import Fastify from 'fastify'
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import WebSocket from 'ws'
import graceful from '../../lib/index.ts'
import { build, summary } from '../helpers/app.ts'
import { request } from '../helpers/http.ts'

t.test('app.close() waits for a drain longer than pluginTimeout, then runs the hooks', async t => {
  const { app, logs } = await build({ timeout: 8000 }, { pluginTimeout: 500, keepAliveTimeout: 72_000 })
  const events: string[] = []
  let started!: () => void
  const inHandler = new Promise<void>(resolve => { started = resolve })
  app.get('/slow', async () => {
    started()
    await sleep(1500)
    events.push('answered')
    return { slow: true, body: 'x'.repeat(64 * 1024) }
  })
  app.addShutdownHook('cleanup', async () => { events.push('hook') })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const agent = new http.Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())

  const answer = request(port, '/slow', { agent })
  await inHandler
  let settled = false
  const closed = app.close().finally(() => { settled = true }).then(() => { events.push('closed') })
  await sleep(700)
  t.notOk(settled, 'close() is still waiting once pluginTimeout has passed')
  await t.resolves(closed, 'close() resolves after the drain')
  const reply = await answer
  t.equal(reply.status, 200, 'the request in flight got its answer')
  t.equal(JSON.parse(reply.body!).body.length, 64 * 1024, 'in full')
  t.same(events, ['answered', 'hook', 'closed'], 'the hooks run after the drain, and close() resolves after them')
  t.match(summary(logs), { cause: 'close', exitCode: 0, requests: { drained: 1, cut: 0 }, hooks: { ok: 1 } })
})

t.test('during a direct app.close(), the next request on an open connection meets the plugin\'s gate, not Fastify\'s own 503', async t => {
  const { app } = await build({ timeout: 8000 }, { keepAliveTimeout: 72_000 })
  let started!: () => void
  const inHandler = new Promise<void>(resolve => { started = resolve })
  app.get('/', async () => 'ok')
  app.get('/slow', async () => { started(); await sleep(600); return 'slow' })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const other = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => { agent.destroy(); other.destroy() })
  await request(port, '/', { agent: other })

  const slow = request(port, '/slow', { agent })
  await inHandler
  const closed = app.close()
  const next = await request(port, '/', { agent: other })
  t.equal(next.reused, true, 'sent on the connection opened before the close')
  t.equal(next.status, 200, 'served as on the signal path (Fastify\'s return503OnClosing would answer 503)')
  t.equal(next.headers?.connection, 'close', 'as the connection\'s last')
  t.equal((await slow).status, 200)
  await closed
})

t.test('during a direct app.close(), WebSockets get 1001 even with @fastify/websocket registered before the plugin', async t => {
  const app = Fastify({ keepAliveTimeout: 72_000 })
  await app.register(websocket)
  await app.register(graceful, { signals: false, timeout: 8000 })
  app.get('/ws', { websocket: true }, socket => { socket.on('message', message => socket.send(message)) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const client = new WebSocket(`ws://127.0.0.1:${port}/ws`)
  t.teardown(() => client.terminate())
  await new Promise((resolve, reject) => { client.once('open', resolve); client.once('error', reject) })
  const code = new Promise<number>(resolve => client.once('close', code => resolve(code)))
  await app.close()
  const received = await code
  t.equal(received, 1001, `the client got close code ${received}`)
})
