// A WebSocket upgrade refused during the drain gets its 503, and its socket is closed at once,
// so that close() (and the process) need not wait for the deadline. Real server, real `ws` client. The port is
// closed during the drain, so the upgrade goes out on a keep-alive connection the client opened before it.
import websocket from '@fastify/websocket'
import Fastify from 'fastify'
import http from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import WebSocket from 'ws'
import graceful from '../../lib/index.ts'
import { makeCertificate } from '../helpers/certs.ts'
import { start } from '../helpers/child.ts'

type Order = 'after' | 'before' | 'none'

const certificate = await makeCertificate()

interface Refusal { status?: number, retryAfter?: string, reused?: boolean, error?: string }

/** Opens a WebSocket through `agent` (on its idle connection) and resolves with the HTTP answer given instead of switching protocols. */
function refusedUpgrade (port: number, agent: http.Agent, tls = false): Promise<Refusal> {
  return new Promise(resolve => {
    const client = new WebSocket(`${tls ? 'wss' : 'ws'}://127.0.0.1:${port}/ws`, { agent })
    client.on('unexpected-response', (req, res) => {
      const refusal = { status: res.statusCode, retryAfter: res.headers['retry-after'] as string | undefined, reused: req.reusedSocket }
      res.resume()
      res.on('end', () => resolve(refusal))
    })
    client.on('open', () => { client.terminate(); resolve({ error: 'upgraded' }) })
    client.on('error', err => resolve({ error: err.message }))
  })
}

/** One GET through `agent`, over TLS when asked. */
function get (port: number, path: string, agent: http.Agent, tls: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = (tls ? https : http).get({ host: '127.0.0.1', port, path, agent }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', chunk => { body += chunk })
      res.on('end', () => resolve(body))
    })
    req.on('error', reject)
  })
}

/** Resolves true when the socket closes within `ms`, false otherwise. */
function closesWithin (socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true)
  const ac = new AbortController()
  return Promise.race([
    new Promise<boolean>(resolve => socket.once('close', () => { ac.abort(); resolve(true) })),
    sleep(ms, false, { signal: ac.signal }).catch(() => true)
  ])
}

const cases: Array<[Order, boolean]> = [['after', false], ['after', true], ['before', false], ['none', false]]
for (const [order, tls] of cases) {
  t.test(`${tls ? 'wss: ' : ''}@fastify/websocket ${order === 'none' ? 'not registered' : `registered ${order} the plugin`}: a refused upgrade's socket closes at once after its 503`, async t => {
    const app = Fastify({ keepAliveTimeout: 72_000, ...(tls ? { https: certificate } : {}) })
    if (order === 'before') await app.register(websocket)
    await app.register(graceful, { signals: false, timeout: 6000, retryAfter: 7 })
    if (order === 'after') await app.register(websocket)
    let release!: () => void
    const held = new Promise<void>(resolve => { release = resolve })
    let holding!: () => void
    const inHandler = new Promise<void>(resolve => { holding = resolve })
    app.get('/hold', async () => { holding(); await held; return { held: true } })
    if (order === 'none') {
      app.get('/ws', async () => ({ plain: true }))
    } else {
      app.get('/ws', { websocket: true }, socket => { socket.close() })
    }
    app.get('/', async () => 'ok')
    const sockets: Socket[] = []
    app.server.on('connection', (socket: Socket) => sockets.push(socket))
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as { port: number }
    const agentOptions = { keepAlive: true, maxSockets: 1, ca: certificate.cert }
    const keepAlive = tls ? new https.Agent(agentOptions) : new http.Agent(agentOptions)
    const other = tls ? new https.Agent(agentOptions) : new http.Agent(agentOptions)
    t.teardown(() => { release(); keepAlive.destroy(); other.destroy(); for (const socket of sockets) socket.destroy() })
    await get(port, '/', keepAlive, tls)
    const [reusedSocket] = sockets

    // A request in flight keeps the drain going while the upgrade is refused.
    const holdAnswer = get(port, '/hold', other, tls)
    await inHandler
    const drained = app.drain()
    const answer = await refusedUpgrade(port, keepAlive, tls)
    t.equal(answer.reused, true, 'sent on the connection opened before the drain')
    t.equal(answer.status, 503, 'the upgrade is refused with 503')
    t.equal(answer.retryAfter, '7', 'with Retry-After')
    t.ok(await closesWithin(reusedSocket!, 3000), 'the refused upgrade\'s socket is closed while the drain still waits for the request in flight')

    release()
    t.same(JSON.parse(await holdAnswer), { held: true }, 'the request in flight got its answer')
    t.equal((await drained).completed, 1)
    const began = performance.now()
    await app.close()
    const closeMs = performance.now() - began
    t.ok(closeMs < 2000, `close() took ${Math.round(closeMs)} ms (deadline 6000 ms)`)
  })
}

t.test('SIGTERM: a refused upgrade does not keep the process until the deadline', async t => {
  const child = await start('connections.ts', { transport: 'http', timeout: 12_000, hook: true }, t)
  const port = child.ports[0]!
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const other = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => { keepAlive.destroy(); other.destroy() })
  await get(port, '/slow?ms=0', keepAlive, false)
  // In flight across the signal: the drain lasts until it is answered.
  const slow = get(port, '/slow?ms=1500', other, false)
  await child.waitFor(line => line.req?.url === '/slow?ms=1500')
  const signalledAt = Date.now()
  child.process.kill('SIGTERM')
  await child.waitFor(line => line.graceful?.event === 'start')
  const answer = await refusedUpgrade(port, keepAlive)
  t.equal(answer.reused, true, 'sent on the connection opened before the signal')
  t.equal(answer.status, 503, 'the upgrade is refused with 503')
  t.same(JSON.parse(await slow), { slow: true }, 'the request in flight got its answer')
  const exit = await child.exited()
  t.equal(exit.code, 0)
  t.ok(child.lines.some(line => line.hook === 'cleanup'), 'the shutdown hook ran')
  const ms = exit.at - signalledAt
  t.ok(ms < 3500, `exit ${ms} ms after SIGTERM, 1500 ms of work in flight (deadline 12000 ms, drain deadline about 6000 ms)`)
})
