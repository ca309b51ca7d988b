// The close phase is bounded too: a connection that never completes its request cannot hold close().
import net from 'node:net'
import { once } from 'node:events'
import t from 'tap'
import { build, summary } from '../helpers/app.ts'

t.test('a half-sent request (slowloris) is closed when the close phase runs out of time', async t => {
  const { app, logs } = await build({ timeout: 600 })
  app.addShutdownHook('db', () => {})
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const socket = net.connect(port, '127.0.0.1')
  socket.on('error', () => {}) // newer Node lines reset it rather than end it: either way it is closed
  await once(socket, 'connect')
  socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n')
  // Not events.once(): it would reject on the reset that newer Node lines send instead of a FIN.
  const socketClosed = new Promise(resolve => socket.once('close', resolve))
  const started = Date.now()
  await app.close()
  await socketClosed
  const took = Date.now() - started
  t.ok(took < 4000, `close() finished after ${took} ms with a connection that never sent its request`)
  t.match(summary(logs), { exitCode: 0, hooks: { ok: 1 } })
})

t.test('a next request half sent on a keep-alive connection is spared until the drain deadline, then closed and logged', async t => {
  const { app, logs } = await build({ timeout: 600 })
  app.get('/', async () => 'ok')
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const accepted = once(app.server, 'connection') as Promise<[net.Socket]>
  const socket = net.connect(port, '127.0.0.1')
  socket.on('error', () => {})
  await once(socket, 'connect')
  const [served] = await accepted
  const first = 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'
  socket.write(first)
  await once(socket, 'data')
  socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n')
  // The half request must have been read (a connection with nothing read is idle, and goes at once): wait for it.
  while (served.bytesRead <= first.length) await new Promise(resolve => setImmediate(resolve))
  const socketClosed = new Promise(resolve => socket.once('close', resolve))
  await app.close()
  await socketClosed
  const forced = logs.find(line => line.graceful?.event === 'force-close')
  t.same(forced?.graceful.connections, { http1: 1, http2: 0, handshaking: 0 }, 'the connection closed at the drain deadline is logged')
  t.equal(forced?.level, 40, 'at warn')
  t.match(summary(logs), { exitCode: 0 })
})
