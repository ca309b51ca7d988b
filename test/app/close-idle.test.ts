// Closing idle connections spares a busy one: on an HTTP/2 server with allowHTTP1, Node has no idle check of its
// own for the HTTP/1 connections, so the plugin's must tell an idle connection from one whose response is under way.
// Real server, real TLS clients; closeIdle() is called at a chosen moment, which a shutdown cannot pin down.
import http from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import { once } from 'node:events'
import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import { watchConnections } from '../../lib/connections.ts'
import { build } from '../helpers/app.ts'
import { makeCertificate } from '../helpers/certs.ts'

const certificate = await makeCertificate()

t.test('allowHTTP1: closeIdle() ends the idle HTTP/1 connection and leaves the one with a response under way', async t => {
  const app = Fastify({ http2: true, https: { key: certificate.key, cert: certificate.cert, allowHTTP1: true } }) as unknown as FastifyInstance
  const connections = watchConnections(app, true)
  let release!: () => void
  const released = new Promise<void>(resolve => { release = resolve })
  let started!: () => void
  const busy = new Promise<void>(resolve => { started = resolve })
  app.get('/held', async () => { started(); await released; return { held: true } })
  app.get('/quick', async () => ({ quick: true }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const port = (app.server.address() as { port: number }).port

  const get = (agent: https.Agent, path: string): Promise<{ status?: number, body: string, socketClosed: Promise<unknown> }> =>
    new Promise((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, path, agent, ca: certificate.cert }, res => {
        const socketClosed = once(res.socket, 'close')
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => { body += chunk })
        res.on('end', () => resolve({ status: res.statusCode, body, socketClosed }))
      }).on('error', reject)
    })

  const idleAgent = new https.Agent({ keepAlive: true })
  const busyAgent = new https.Agent({ keepAlive: true })
  t.teardown(() => { idleAgent.destroy(); busyAgent.destroy() })
  const idle = await get(idleAgent, '/quick')
  t.equal(idle.status, 200, 'precondition: the idle connection served one request and stays open')
  const held = get(busyAgent, '/held')
  await busy
  t.equal([...connections.http1Sockets].length, 2, 'precondition: both HTTP/1 connections are watched')

  connections.closeIdle()
  await idle.socketClosed
  t.pass('the idle connection was closed')
  release()
  const answer = await held
  t.equal(answer.status, 200, 'the busy connection was left to finish its response')
  t.equal(answer.body, '{"held":true}')
})

// Node keeps its own list of an HTTP/1 server's connections (a private field), and the plugin reads it rather than
// keep anything per connection; where a Node has no such list, the plugin follows each connection itself.
t.test('where Node keeps no list of its connections: the request in flight is found and finishes, the idle connection closes', async t => {
  const { app } = await build({}, { logger: false })
  let started!: () => void
  const busy = new Promise<void>(resolve => { started = resolve })
  app.get('/held', async () => { started(); await new Promise(resolve => setTimeout(resolve, 200)); return { held: true } })
  app.get('/quick', async () => ({ quick: true }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const server = app.server as unknown as Record<symbol, unknown>
  const list = Object.getOwnPropertySymbols(server).find(symbol => symbol.description === 'http.server.connections')
  t.ok(list, 'precondition: this Node keeps the list')
  // Its connection checker reads the list too: a Node without the list has none.
  app.server.headersTimeout = 0
  app.server.requestTimeout = 0
  delete server[list!]
  const port = (app.server.address() as { port: number }).port
  const idleAgent = new http.Agent({ keepAlive: true })
  t.teardown(() => idleAgent.destroy())
  const idleSocket = await new Promise<Socket>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/quick', agent: idleAgent }, res => {
      const socket = res.socket
      res.resume()
      res.on('end', () => resolve(socket))
    }).on('error', reject)
  })
  const held = new Promise<string>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/held' }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve(body))
    }).on('error', reject)
  })
  await busy
  const idleClosed = once(idleSocket, 'close')
  const result = await app.drain()
  t.match(result, { inflight: 1, completed: 1, cut: 0 })
  t.same(JSON.parse(await held), { held: true })
  await idleClosed
})
