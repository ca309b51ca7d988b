// The close order the plugin rests on (lib/close-order.ts): app.close() drains ahead of Fastify's own close step, and
// the shutdown hooks run after it. This fails if a Fastify or avvio upgrade changes the order of the onClose queue.
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { build } from './helpers/app.ts'
import { request } from './helpers/http.ts'

t.test('app.close(): the drain runs before Fastify closes its server, the shutdown hooks after', async t => {
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
  t.same(seenByHook, [false], 'the shutdown hooks run after Fastify closed its server')
})
