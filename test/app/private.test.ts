// Every private field the plugin reads (lib/private.ts), checked on the Node and Fastify installed: this file runs in
// the Node matrix (22, 24, 26), so a version that moves one fails here before it fails a shutdown.
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import http from 'node:http'
import http2 from 'node:http2'
import { createServer as createNetServer, type Socket } from 'node:net'
import { once } from 'node:events'
import tls from 'node:tls'
import { onExit } from 'signal-exit'
import t from 'tap'
import {
  busyWith, fastifyInternal, inWorkerThread, isRootInstance, isSignalExit, keepWorkerAfterPrimary, latestRequest,
  nodeConnections, parsedByHttp, runsOnResponse, serverOf, socketOfSession, tcpUnder, wrapInjectDispatch
} from '../../lib/private.ts'
import { makeCertificate } from '../helpers/certs.ts'

t.test('Fastify: its symbols on the root instance, reached from any context; the root told from a context', async t => {
  const app = Fastify({ return503OnClosing: false })
  let child: object = app
  await app.register(async function encapsulated (instance) { child = instance })
  let wrapped: object = app
  await app.register(fp(async instance => { wrapped = instance }))
  await app.listen({ port: 0, host: 'localhost' })
  t.teardown(() => app.close())
  t.equal(fastifyInternal<{ return503OnClosing: boolean }>(child, 'fastify.options')?.return503OnClosing, false)
  t.ok(Array.isArray(fastifyInternal(app, 'fastify.serverBindings')), 'the extra servers bound for localhost')
  t.type(fastifyInternal<{ requestCompleted: unknown }>(app, 'fastify.logController')?.requestCompleted, 'function')
  t.equal(fastifyInternal(app, 'no such thing'), undefined)
  t.equal(isRootInstance(app), true)
  t.equal(isRootInstance(child), false)
  t.equal(isRootInstance(wrapped), true, 'fastify-plugin shares the root')
})

t.test('Fastify: the onResponse step is listened for on every response it runs it for, and only there', async t => {
  for (const withHook of [true, false]) {
    const app = Fastify()
    let seen: boolean | undefined
    if (withHook) app.addHook('onResponse', async () => {})
    app.get('/', async (_request, reply) => {
      seen = runsOnResponse(reply.raw)
      return 'ok'
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as { port: number }
    await (await fetch(`http://127.0.0.1:${port}/`)).text()
    await app.close()
    t.equal(seen, withHook, withHook ? 'an onResponse hook: Fastify runs the step' : 'no logger, no hook: it does not')
  }
})

t.test('Node: the response a socket is busy with, the latest request read, its parser, its server, its list', async t => {
  const seen: Record<string, unknown> = {}
  const server = http.createServer((req, res) => {
    const socket = req.socket
    seen.busy = busyWith(socket) === res
    seen.latest = latestRequest(socket) === req
    seen.parsed = parsedByHttp(socket)
    seen.server = serverOf(socket) === server
    seen.listed = nodeConnections(server)?.all().some(connection => connection.socket === socket)
    res.end('ok')
  })
  server.on('connection', (socket: Socket) => { seen.beforeFirst = busyWith(socket) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const agent = new http.Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())
  const { port } = server.address() as { port: number }
  await (await fetch(`http://127.0.0.1:${port}/`)).text()
  t.same(seen, { beforeFirst: undefined, busy: true, latest: true, parsed: true, server: true, listed: true })

  const plain = createNetServer()
  t.equal(nodeConnections(plain), undefined, 'a server that is not HTTP keeps no such list')
  t.equal(parsedByHttp({}), false)
  t.equal(latestRequest(null), undefined)
})

t.test('Node: the TCP connection under a TLS socket', async t => {
  const { key, cert } = await makeCertificate()
  const server = tls.createServer({ key, cert }, socket => {
    const under = tcpUnder(socket)
    socket.end(String(under !== undefined && under !== socket && typeof under.remotePort === 'number'))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const { port } = server.address() as { port: number }
  const client = tls.connect({ port, host: '127.0.0.1', ca: cert })
  let answer = ''
  client.setEncoding('utf8').on('data', chunk => { answer += chunk })
  await once(client, 'end')
  t.equal(answer, 'true')
})

t.test('Node: the socket under an HTTP/2 session, until the session\'s close lets go of it', async t => {
  const server = http2.createServer()
  const accepted: Socket[] = []
  server.on('connection', (socket: Socket) => accepted.push(socket))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const client = http2.connect(`http://127.0.0.1:${(server.address() as { port: number }).port}`)
  client.on('error', () => {})
  const [session] = await once(server, 'session') as [http2.ServerHttp2Session]
  await once(client, 'connect')
  t.equal(socketOfSession(session), accepted[0], 'the server\'s socket of that connection')
  session.close()
  await once(session, 'close')
  t.equal(socketOfSession(session), undefined, 'let go of once the session is closed')
  client.close()
})

t.test('light-my-request: the dispatch of an inject() without a callback', async t => {
  const app = Fastify()
  app.get('/', async () => 'ok')
  t.teardown(() => app.close())
  let dispatched = 0
  const chain = app.inject('/')
  const followed = wrapInjectDispatch(chain, dispatch => function (this: unknown, req, res) {
    dispatched++
    return dispatch.call(this, req, res)
  })
  t.equal(followed, true)
  t.equal((await chain).statusCode, 200)
  t.equal(dispatched, 1)
  t.equal(wrapInjectDispatch(undefined, dispatch => dispatch), false, 'inject() with a callback returns nothing')
})

t.test('signal-exit: told from other listeners by its source', async t => {
  const before = new Set(process.listeners('SIGTERM'))
  const remove = onExit(() => {})
  t.teardown(remove)
  const added = process.listeners('SIGTERM').filter(listener => !before.has(listener))
  t.ok(added.length > 0 || process.listeners('SIGTERM').some(isSignalExit), 'signal-exit listens on SIGTERM')
  t.ok(process.listeners('SIGTERM').some(isSignalExit), 'and is recognised')
  t.equal(isSignalExit(function metricsExporter () {}), false)
})

t.test('node:worker_threads: a worker thread told from the main thread without loading the module', async t => {
  t.equal(inWorkerThread(), false)
  const source = `const { parentPort } = require('node:worker_threads')
    parentPort.postMessage(process.abort.name === 'unavailableInWorker')`
  const { Worker } = await import('node:worker_threads')
  const worker = new Worker(source, { eval: true })
  const [inWorker] = await once(worker, 'message')
  t.equal(inWorker, true, 'inside a Worker, as inWorkerThread() reads it')
  await worker.terminate()
})

t.test('node:cluster: a worker kept past its primary once, not when disconnected on purpose', async t => {
  const worker = { exitedAfterDisconnect: false }
  t.equal(keepWorkerAfterPrimary(worker), true)
  t.equal(worker.exitedAfterDisconnect, true)
  t.equal(keepWorkerAfterPrimary(worker), false)
})
