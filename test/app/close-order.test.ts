// The close order the plugin rests on (lib/close-order.ts): app.close() drains and runs the shutdown hooks ahead of
// Fastify's own close step, and so ahead of every other plugin's onClose hook. This fails if a Fastify or avvio upgrade changes the order of the onClose queue.
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import t from 'tap'
import graceful from '../../lib/index.ts'
import { build } from '../helpers/app.ts'
import { request } from '../helpers/http.ts'

t.test('app.close(): the drain runs before Fastify closes its server, the shutdown hooks after the drain', async t => {
  const { app } = await build({ timeout: 8000 })
  let started!: () => void
  const inHandler = new Promise<void>(resolve => { started = resolve })
  app.get('/slow', async () => {
    started()
    await sleep(400)
    return { slow: true }
  })
  app.get('/', async () => ({ ok: true }))
  const seenByHook: boolean[] = []
  app.addShutdownHook('cleanup', () => { seenByHook.push(app.server.listening) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  t.equal((await request(port, '/', { agent })).status, 200, 'a keep-alive connection is open')

  const slow = request(port, '/slow')
  await inHandler
  const closed = app.close()
  // Fastify's own close step would answer this 503 (return503OnClosing): the plugin's drain serves it, as the last
  // request of its connection, because the drain comes first.
  const during = await request(port, '/', { agent })
  t.equal(during.status, 200, 'a request on an open connection during the drain is served by the plugin, not refused by Fastify')
  t.equal(during.headers?.connection, 'close')
  t.equal((await slow).status, 200)
  await closed
  t.same(seenByHook, [false], 'the shutdown hooks run once the port is closed')
})

// A resource plugin (@fastify/postgres, @fastify/redis, …) closes its client in its own onClose hook; Fastify runs
// onClose hooks last registered first. The shutdown hooks must run before every such hook, whatever the order.
for (const registered of ['before', 'after'] as const) {
  t.test(`the shutdown hooks run before the onClose of a plugin registered ${registered} the graceful plugin`, async t => {
    const order: string[] = []
    const pool = fp(async app => {
      app.addHook('onClose', async () => { order.push('pool ended (its plugin\'s onClose)') })
    })
    const app = Fastify()
    if (registered === 'before') await app.register(pool)
    await app.register(graceful, { signals: false })
    if (registered === 'after') await app.register(pool)
    app.addHook('preClose', async () => { order.push('Fastify\'s close step (preClose)') })
    app.addShutdownHook('pool user', () => { order.push('hook') })
    app.addConsumer('worker', {
      pause: () => { order.push('consumer paused') },
      close: () => { order.push('consumer closed') }
    })
    await app.ready()
    await app.close()
    // The consumer was added last: it closes first (reverse order of registration), then the hook, then the rest.
    t.same(order, [
      'consumer paused', 'consumer closed', 'hook', 'Fastify\'s close step (preClose)', 'pool ended (its plugin\'s onClose)'
    ])
  })
}
