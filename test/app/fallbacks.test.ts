// The paths taken where a part of the platform is missing or an edge is reached: no extra servers from Fastify, a
// logger without flush(), every connection closed at the close phase's end (HTTP/1 followed one by one, HTTP/2
// sessions on a server with no closeAllConnections(), a TLS handshake never finished), a hijacked inject() cut at the
// drain deadline.
import Fastify from 'fastify'
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import { once } from 'node:events'
import { createConnection } from 'node:net'
import t from 'tap'
import graceful from '../../lib/index.ts'
import { watchConnections } from '../../lib/connections.ts'
import { createReporter } from '../../lib/report.ts'
import { createTraffic } from '../../lib/traffic.ts'
import { makeCertificate } from '../helpers/certs.ts'

type Watched = Parameters<typeof watchConnections>[0]

t.test('the extra servers Fastify binds for localhost are watched once it listens; none known, the one server', async t => {
  const server = http.createServer((_req, res) => res.end('ok'))
  const connections = watchConnections({ server } as unknown as Watched, false)
  t.doesNotThrow(() => connections.listened())

  // IPv6 and IPv4 for 'localhost' where the machine has both (this one may not): the second server is watched too.
  const extra = http.createServer(() => {})
  const withExtra = watchConnections({ server, [Symbol('fastify.serverBindings')]: [extra] } as unknown as Watched, false)
  withExtra.listened()
  extra.listen(0, '127.0.0.1')
  await once(extra, 'listening')
  t.teardown(() => extra.close())
  withExtra.stopListening()
  withExtra.letProcessGo()
  t.equal(extra.listening, false, 'its port closes with the drain')
})

t.test('closeAll() at the close phase\'s end: HTTP/1 sockets followed one by one, and HTTP/2 sessions', async t => {
  const server = http.createServer(() => {})
  // A server that keeps no list of its own connections: each is followed by the plugin.
  Object.defineProperty(server, Object.getOwnPropertySymbols(server).find(s => s.description === 'http.server.connections') ?? Symbol('none'), { value: undefined })
  const connections = watchConnections({ server } as unknown as Watched, false)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const socket = createConnection((server.address() as { port: number }).port, '127.0.0.1')
  socket.on('error', () => {})
  await once(server, 'connection')
  connections.closeAll()
  await once(socket, 'close')
  t.pass('the HTTP/1 connection was closed')

  const h2 = http2.createServer()
  const sessions = watchConnections({ server: h2 } as unknown as Watched, true)
  h2.listen(0, '127.0.0.1')
  await once(h2, 'listening')
  t.teardown(() => h2.close())
  const client = http2.connect(`http://127.0.0.1:${(h2.address() as { port: number }).port}`)
  client.on('error', () => {})
  await once(h2, 'session')
  sessions.closeAll()
  await once(client, 'close')
  t.pass('the HTTP/2 session was destroyed (its server has no closeAllConnections())')
})

t.test('closeAll(): a connection still in its TLS handshake (a server the app listens on itself) is counted and closed', async t => {
  const { key, cert } = await makeCertificate()
  const server = https.createServer({ key, cert }, () => {})
  const connections = watchConnections({ server } as unknown as Watched, false)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  // A TCP connection that never sends its ClientHello: Node holds it until its handshake timeout (120 s).
  const socket = createConnection((server.address() as { port: number }).port, '127.0.0.1')
  socket.on('error', () => {})
  await once(server, 'connection')
  t.same(connections.closeAll(), { http1: 0, http2: 0, handshaking: 1 })
  await once(socket, 'close')
  t.same(connections.closeAll(), { http1: 0, http2: 0, handshaking: 0 }, 'once closed it is no longer counted')
})

t.test('a logger without flush(): nothing to wait for', async t => {
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  await t.resolves(createReporter(app).flush(1000))
})

t.test('a hijacked inject() never answered is cut at the drain deadline: its stand-in response is destroyed', async t => {
  const app = Fastify()
  await app.register(graceful, { signals: false, timeout: 400 })
  app.get('/taken', (_request, reply) => { reply.hijack() })
  await app.ready()
  t.teardown(() => app.close())
  const taken = app.inject('/taken').catch(() => 'destroyed')
  const result = await app.drain()
  t.match(result, { inflight: 1, cut: 1 })
  t.ok(await taken, 'the inject() ended')
})

t.test('the traffic\'s counts keep the last minute or so under steady load, not more', async t => {
  const traffic = createTraffic(true)
  for (let admitted = 1; admitted <= 300; admitted++) traffic.windowEnded(admitted)
  traffic.begin(300)
  t.equal(traffic.watched, true)
})

t.test('the traffic counted before any request other than probes: nothing to count', async t => {
  const traffic = createTraffic(true)
  traffic.probed('liveness')
  traffic.windowEnded(1)
  traffic.begin(1)
  t.equal(traffic.watched, true)
  t.equal(await traffic.handOver(0, 50, new AbortController().signal), 'quiet', 'no request ever: quiet at once')
})

t.test('a request pipelined during the drain takes Connection: close from the one before it, not yet answered', async t => {
  const { createLastCall } = await import('../../lib/last-call.ts')
  const lastCall = createLastCall()
  const socket = {}
  const response = (): { headers: Map<string, string>, headersSent: boolean, setHeader (k: string, v: string): void, removeHeader (k: string): void } => {
    const headers = new Map<string, string>()
    return { headers, headersSent: false, setHeader: (k, v) => { headers.set(k, v) }, removeHeader: k => { headers.delete(k) } }
  }
  const first = { req: { httpVersionMajor: 1, socket }, res: response() }
  const second = { req: { httpVersionMajor: 1, socket }, res: response() }
  lastCall.askToClose(first as never)
  t.equal(first.res.headers.get('connection'), 'close')
  lastCall.askToClose(second as never)
  t.equal(first.res.headers.get('connection'), undefined, 'the earlier response keeps the connection open')
  t.equal(second.res.headers.get('connection'), 'close', 'the later one closes it')
})
