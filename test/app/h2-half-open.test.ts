// HTTP/2 over TLS behind a peer that keeps its side open after GOAWAY (HAProxy's `proto h2` over `ssl`): once its
// streams are over, Node ends a gracefully closed session's socket and waits for the peer's FIN; the session is
// destroyed by then, so session.destroy() does nothing, and server.close() used to wait for that socket until the
// deadline. The socket under a finished session is idle: it is closed (lib/connections.ts).
import Fastify from 'fastify'
import { EventEmitter, once } from 'node:events'
import http2 from 'node:http2'
import tls from 'node:tls'
import t, { type Test } from 'tap'
import graceful from '../../lib/index.ts'
import { watchConnections } from '../../lib/connections.ts'
import { makeCertificate } from '../helpers/certs.ts'

// The client preface and an empty SETTINGS frame: all a peer must send to open an HTTP/2 session.
const PREFACE = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])])

/** A raw HTTP/2-over-TLS peer that never closes its side: it reads everything and ignores the server's FIN. */
async function stubbornPeer (port: number, t: Test): Promise<{ socket: tls.TLSSocket, serverEnded: Promise<unknown> }> {
  // allowHalfOpen: the server's FIN does not end this side (Node's types leave the option out, tls.connect takes it).
  const socket = tls.connect({ port, host: '127.0.0.1', ALPNProtocols: ['h2'], rejectUnauthorized: false, allowHalfOpen: true } as tls.ConnectionOptions)
  t.teardown(() => socket.destroy())
  socket.on('error', () => {})
  socket.resume()
  const serverEnded = new Promise(resolve => socket.on('end', resolve))
  await once(socket, 'secureConnect')
  t.equal(socket.alpnProtocol, 'h2')
  socket.write(PREFACE)
  return { socket, serverEnded }
}

for (const allowHTTP1 of [false, true]) {
  t.test(`HTTP/2 over TLS${allowHTTP1 ? ' (allowHTTP1)' : ''}, a peer that keeps its side open after GOAWAY: close() does not wait for its FIN`, async t => {
    const { key, cert } = await makeCertificate()
    const app = Fastify({ http2: true, https: { key, cert, allowHTTP1 } })
    await app.register(graceful, { signals: false, timeout: 6000 })
    app.get('/', async () => ({ ok: true }))
    await app.listen({ port: 0, host: '127.0.0.1' })
    const peer = await stubbornPeer((app.server.address() as { port: number }).port, t)
    await once(app.server, 'session')
    const started = Date.now()
    const closing = app.close()
    // The old behaviour: close() waited for the peer's FIN until the drain deadline (5 s here), then the deadline.
    const closedOrLate = await Promise.race([closing.then(() => 'closed'), new Promise(resolve => setTimeout(resolve, 4000, 'still waiting'))])
    t.equal(closedOrLate, 'closed', `close() finished (${Date.now() - started} ms), not held by the half-open socket`)
    await peer.serverEnded
    t.pass('the server ended the connection (its FIN reached the peer, which keeps its side open)')
    const open = await new Promise<number>((resolve, reject) => app.server.getConnections((err, n) => err ? reject(err) : resolve(n)))
    t.equal(open, 0, 'no connection left on the server')
  })
}

t.test('a session already closed and ended before the drain (its last response during the serving): goAway() closes its socket', async t => {
  const { key, cert } = await makeCertificate()
  const server = http2.createSecureServer({ key, cert })
  const connections = watchConnections({ server } as unknown as Parameters<typeof watchConnections>[0], true)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const ended = once(server, 'secureConnection')
  const session = once(server, 'session')
  const peer = await stubbornPeer((server.address() as { port: number }).port, t)
  const [socket] = await ended as [tls.TLSSocket]
  const [serverSession] = await session as [http2.ServerHttp2Session]
  serverSession.close()
  await peer.serverEnded
  if (!socket.writableFinished) await once(socket, 'finish')
  t.equal(socket.destroyed, false, 'Node leaves the socket open, waiting for the peer')
  connections.goAway()
  t.equal(socket.destroyed, true, 'closed at the drain\'s start')
})

t.test('a session Node destroyed while it was still writing to the socket: the socket goes with the idle ones', async t => {
  // Node's Http2Session::Close() ends the socket only once a write under way completes; behind HAProxy over TLS that
  // completion did not come, and the socket held close() for 13 s (Node 20). No client makes Node's write hang at
  // will: a stand-in session on a real socket, announced as the server would, is destroyed with that write pending.
  const { key, cert } = await makeCertificate()
  const server = http2.createSecureServer({ key, cert })
  const connections = watchConnections({ server } as unknown as Parameters<typeof watchConnections>[0], true)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const accepted = once(server, 'secureConnection')
  const session = once(server, 'session')
  const peer = await stubbornPeer((server.address() as { port: number }).port, t)
  const [socket] = await accepted as [tls.TLSSocket]
  const [real] = await session as [http2.ServerHttp2Session]
  // The peer's preface is read (a socket that never sent a byte goes for that reason alone).
  await once(real, 'remoteSettings')
  // One whose close let go of its socket already: nothing to do for it.
  server.emit('session', Object.assign(new EventEmitter(), { destroyed: true }))
  const standIn = Object.assign(new EventEmitter(), { destroyed: false, [Symbol('socket')]: socket })
  server.emit('session', standIn)
  connections.closeIdle()
  t.equal(socket.destroyed, false, 'the socket of a session still there stays')
  standIn.destroyed = true
  connections.closeIdle()
  t.equal(socket.destroyed, true, 'the socket of a destroyed session goes with the idle connections')
  await peer.serverEnded
})
