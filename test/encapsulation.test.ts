// Registered inside an encapsulated plugin, the gate covers that plugin's routes only: the first request of a
// shutdown answered by a route outside it logs a warning (and a process warning) that names the fix.
import Fastify from 'fastify'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { Writable } from 'node:stream'
import t from 'tap'
import graceful from '../lib/index.ts'
import { request } from './helpers/http.ts'

async function serve (where: 'child' | 'root'): Promise<{ app: ReturnType<typeof Fastify>, drain: () => Promise<unknown>, port: number, logs: Array<Record<string, any>>, slowArrived: Promise<void> }> {
  const logs: Array<Record<string, any>> = []
  const stream = new Writable({ write (chunk, _encoding, callback) { logs.push(JSON.parse(String(chunk))); callback() } })
  const app = Fastify({ logger: { level: 'info', stream } })
  app.get('/parent', async () => ({ parent: true }))
  if (where === 'root') await app.register(graceful, { signals: false })
  let owner: { drain (): Promise<unknown> } = app as never
  let arrived!: () => void
  const slowArrived = new Promise<void>(resolve => { arrived = resolve })
  await app.register(async function child (instance) {
    if (where === 'child') {
      await instance.register(graceful, { signals: false })
      owner = instance as never
    }
    instance.get('/child/slow', async () => { arrived(); await sleep(300); return { slow: true } })
    instance.get('/child', async () => ({ child: true }))
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, drain: () => owner.drain(), port: (app.server.address() as { port: number }).port, logs, slowArrived }
}

t.test('registered in a child plugin: a parent route answering during the drain is reported once, with the fix', async t => {
  const { app, drain, port, logs, slowArrived } = await serve('child')
  t.teardown(() => app.close())
  const warning = once(process, 'warning')
  const slow = request(port, '/child/slow')
  await slowArrived
  const drained = drain()
  t.equal((await request(port, '/child')).status, 503, 'the child\'s own routes are gated')
  t.equal((await request(port, '/parent')).status, 200, 'the parent route is outside the gate')
  t.equal((await request(port, '/parent')).status, 200)
  const [emitted] = await warning as [Error & { code: string }]
  t.equal(emitted.code, 'FST_GRACEFUL_ENCAPSULATED')
  t.match(emitted.message, /GET \/parent was answered 200 during the shutdown without passing the shutdown gate.*Register it on the root instance, or wrap the plugin that registers it with fastify-plugin/)
  t.equal(logs.filter(line => line.graceful?.event === 'warning').length, 1, 'said once')
  t.equal((await slow).status, 200)
  await drained
})

t.test('registered on the root: every route is gated and nothing is reported', async t => {
  const { app, drain, port, logs, slowArrived } = await serve('root')
  t.teardown(() => app.close())
  const slow = request(port, '/child/slow')
  await slowArrived
  const drained = drain()
  t.equal((await request(port, '/parent')).status, 503)
  t.equal((await request(port, '/nowhere')).status, 503, 'not-found requests are gated too')
  t.equal((await slow).status, 200)
  await drained
  t.equal(logs.filter(line => line.graceful?.event === 'warning').length, 0)
})
