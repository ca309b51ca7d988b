// Closing idle connections spares a busy one: on an HTTP/2 server with allowHTTP1, Node has no idle check of its
// own for the HTTP/1 connections, so the plugin's must tell an idle connection from one whose response is under way.
// Real server, real TLS clients; closeIdle() is called at a chosen moment, which a shutdown cannot pin down.
import https from 'node:https'
import { once } from 'node:events'
import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import { watchConnections } from '../lib/connections.ts'
import { makeCertificate } from './helpers/certs.ts'

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
  t.equal(connections.http1Sockets.size, 2, 'precondition: both HTTP/1 connections are watched')

  connections.closeIdle()
  await idle.socketClosed
  t.pass('the idle connection was closed')
  release()
  const answer = await held
  t.equal(answer.status, 200, 'the busy connection was left to finish its response')
  t.equal(answer.body, '{"held":true}')
})
