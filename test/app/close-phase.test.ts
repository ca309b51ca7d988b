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
