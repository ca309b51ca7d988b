// A socket that never sends a byte (a browser preconnect) must not hold a shutdown: with no request in
// flight, the process exits about as fast as an idle one does, and the server closes that socket.
import net from 'node:net'
import { once } from 'node:events'
import t from 'tap'
import { shutdownMs, start, summaryOf } from '../helpers/child.ts'

const TIMEOUT = 10_000

t.test('a preconnected socket that never sends a byte: exit 0 in well under a second, not after the timeout', async t => {
  const idle = await start('app.ts', { options: { timeout: TIMEOUT } }, t)
  idle.process.kill('SIGTERM')
  t.equal((await idle.exited(TIMEOUT + 5000)).code, 0, 'baseline: an idle server with no sockets exits 0')
  const baseline = shutdownMs(idle)

  const child = await start('app.ts', { options: { timeout: TIMEOUT } }, t)
  const socket = net.connect(child.ports[0]!, '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.on('error', () => {})
  await once(socket, 'connect')
  const closedByServer = once(socket, 'close')
  child.process.kill('SIGTERM')
  const { code } = await child.exited(TIMEOUT + 5000)
  const ms = shutdownMs(child)
  t.comment(`idle server: ${baseline} ms; with a silent socket: ${ms} ms (timeout ${TIMEOUT} ms)`)

  t.equal(code, 0, 'exit 0: nothing was cut')
  t.ok(ms < 1000, `exited ${ms} ms after the shutdown began, far below the ${TIMEOUT} ms timeout`)
  t.ok(ms < baseline + 750, `about as fast as the idle server (${baseline} ms)`)
  t.match(summaryOf(child), { exitCode: 0, requests: { drained: 0, cut: 0 } })
  await Promise.race([closedByServer, new Promise((_resolve, reject) => setTimeout(() => reject(new Error('the socket is still open')), 2000))])
  t.pass('the server closed the silent socket')
})
