// The keep-alive trap (README, "What it fixes"): a request in flight on a keep-alive socket when close() begins.
// Bare Fastify answers it with Connection: keep-alive and then waits keepAliveTimeout for the idle socket.
import Fastify from 'fastify'
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { LINGER_MS } from '../../lib/drain.ts'
import { arrival, build } from '../helpers/app.ts'
import { request } from '../helpers/http.ts'
import { openRaw, parseResponses } from '../helpers/raw-http.ts'

async function trap (app: ReturnType<typeof Fastify>, t: Test): Promise<{ closeMs: number, connection: string | undefined, status: number | undefined }> {
  const { arrived, reached } = arrival()
  app.get('/', async () => 'ok')
  app.get('/slow', async () => { arrived(); await sleep(300); return 'slow' })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  await request(port, '/', { agent })
  const slow = request(port, '/slow', { agent })
  await reached
  const started = Date.now()
  const closed = app.close().then(() => Date.now() - started)
  const answer = await slow
  const closeMs = await Promise.race([closed, sleep(3000, 3000)])
  return { closeMs, connection: answer.headers?.connection, status: answer.status }
}

t.test('with the plugin, close() completes as soon as the request in flight is answered', async t => {
  const { app } = await build({}, { keepAliveTimeout: 72_000 })
  const { closeMs, connection, status } = await trap(app, t)
  t.equal(status, 200)
  t.equal(connection, 'close')
  t.ok(closeMs < 1500, `close() took ${closeMs} ms for 250 ms of work left`)
})

t.test('bare Fastify, for reference, is still waiting on the idle keep-alive socket', async t => {
  const app = Fastify({ keepAliveTimeout: 72_000 })
  const { closeMs, connection, status } = await trap(app, t)
  t.equal(status, 200)
  t.equal(connection, 'keep-alive', 'the trap: the response keeps the socket open')
  t.equal(closeMs, 3000, 'close() has not finished after 3 s')
  app.server.closeAllConnections()
})

t.test('an idle keep-alive socket does not hold close()', async t => {
  const { app } = await build({}, { keepAliveTimeout: 72_000 })
  app.get('/', async () => 'ok')
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const agent = new http.Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())
  await request(port, '/', { agent })
  const started = Date.now()
  await app.close()
  t.ok(Date.now() - started < 2000, `close() took ${Date.now() - started} ms`)
})

t.test('during the drain, the next request on an open keep-alive socket is served with Connection: close; a new connection is refused', async t => {
  const { app } = await build({}, { keepAliveTimeout: 72_000 })
  const { arrived, reached } = arrival()
  app.get('/', async () => 'ok')
  app.get('/slow', async () => { arrived(); await sleep(200); return 'slow' })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  await request(port, '/', { agent })
  const slow = request(port, '/slow')
  await reached
  const drained = app.drain()
  const last = await request(port, '/', { agent })
  t.equal(last.reused, true, 'the request went out on the kept-alive socket')
  t.equal(last.status, 200, 'served: its client had not been told to close yet')
  t.equal(last.headers?.connection, 'close')
  const fresh = await request(port, '/', { agent })
  t.equal(fresh.reused, false)
  t.equal(fresh.error, 'ECONNREFUSED', 'the port is closed')
  t.equal((await slow).status, 200)
  await drained
  await app.close()
})

t.test('a request already in an idle connection\'s buffer when the drain closes idle connections is served with Connection: close, not reset', async t => {
  const { app } = await build({}, { keepAliveTimeout: 72_000 })
  app.get('/', async () => 'ok')
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const { port } = app.server.address() as { port: number }
  const raw = await openRaw(port)
  t.teardown(() => raw.socket.destroy())
  raw.socket.write('GET /?first HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
  while (parseResponses(raw.received()).length === 0) await sleep(5)
  // Past the linger: with no request admitted lately, the drain closes idle connections at once.
  await sleep(LINGER_MS + 50)
  // On loopback the bytes reach the server's socket buffer within write(); the server reads them in its next poll.
  raw.socket.write('GET /?second HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
  const result = await app.drain()
  await raw.closed()
  const [first, second] = parseResponses(raw.received())
  t.equal(first?.headers.connection, 'keep-alive', 'precondition: the first answer kept the connection open')
  t.equal(second?.status, 200, 'the request that was waiting to be read was served')
  t.equal(second?.headers.connection, 'close')
  t.equal(second?.body, 'ok')
  t.equal(result.timedOut, false)
})
