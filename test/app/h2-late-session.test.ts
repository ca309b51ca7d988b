// A connection the server accepted before the port closed may finish its TLS handshake only after the drain began (a
// balancer's health check, a new connection every 250 ms, often does). Its session starts late: Node sends it GOAWAY at
// once (the server is closed), and ends its socket when its streams are over; a peer that keeps its side open (HAProxy
// over TLS) never sends its FIN, and the socket held close() until the force-close at the drain deadline (behind
// HAProxy, a restart in 14 s instead of 0.8 s). Its socket is closed once ended, as the sessions' at the drain's start.
import Fastify from 'fastify'
import { once } from 'node:events'
import http2 from 'node:http2'
import net from 'node:net'
import tls from 'node:tls'
import t from 'tap'
import graceful from '../../lib/index.ts'
import { makeCertificate } from '../helpers/certs.ts'

// The client preface and an empty SETTINGS frame: all a peer must send to open an HTTP/2 session.
const PREFACE = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])])

for (const allowHTTP1 of [false, true]) {
  t.test(`HTTP/2 over TLS${allowHTTP1 ? ' (allowHTTP1)' : ''}: a session that begins once the drain is under way does not hold close()`, async t => {
    const { key, cert } = await makeCertificate()
    const app = Fastify({ http2: true, https: { key, cert, allowHTTP1 } })
    await app.register(graceful, { signals: false, timeout: 6000 })
    app.get('/', async () => ({ ok: true }))
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as { port: number }
    // A request just before: the drain lingers a moment with idle connections open, as under a balancer's traffic.
    const first = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false })
    t.teardown(() => first.destroy())
    const answered = first.request({ ':path': '/' })
    answered.resume()
    await once(answered, 'end')
    // Accepted before the port closes; its TLS handshake starts once the drain has begun.
    const raw = net.connect(port, '127.0.0.1')
    t.teardown(() => raw.destroy())
    await once(raw, 'connect')
    const drained = app.drain()
    // allowHalfOpen: the server's FIN does not end this side (Node's types leave the option out, tls.connect takes it).
    const peer = tls.connect({ socket: raw, ALPNProtocols: ['h2'], rejectUnauthorized: false, allowHalfOpen: true } as tls.ConnectionOptions)
    t.teardown(() => peer.destroy())
    peer.on('error', () => {})
    peer.resume()
    await once(peer, 'secureConnect')
    peer.write(PREFACE)
    const closed = once(peer, 'close')
    await drained
    const started = Date.now()
    await app.close()
    const ms = Date.now() - started
    t.ok(ms < 2000, `close() took ${ms} ms (the force-close would come at the drain deadline, about 4 s)`)
    await closed
    t.pass('the late connection was closed')
  })
}
