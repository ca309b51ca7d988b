// While the server serves, the plugin's cost per request must be that of one onRequest hook checking
// its state. No second 'request' listener on the server (each one makes every request's emit walk a copied
// array), no second onRequest hook (each one is a pass through Fastify's hook runner); the shutdown adds them.
import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import graceful from '../../lib/index.ts'
import { request } from '../helpers/http.ts'

// Fastify keeps an instance's hooks under a symbol of its own; the test only counts them.
function onRequestHooks (app: FastifyInstance): number {
  const key = Object.getOwnPropertySymbols(app).find(symbol => symbol.description === 'fastify.hooks') as symbol
  return (app as unknown as Record<symbol, { onRequest: unknown[] }>)[key].onRequest.length
}

async function serve (withPlugin: boolean): Promise<FastifyInstance> {
  const app = Fastify()
  if (withPlugin) await app.register(graceful, { signals: false })
  app.get('/', async () => ({ ok: true }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  return app
}

t.test('serving: the same \'request\' listeners as bare Fastify, and one onRequest hook', async t => {
  const bare = await serve(false)
  t.teardown(() => bare.close())
  const app = await serve(true)
  t.teardown(() => app.close())
  t.equal(app.server.listenerCount('request'), bare.server.listenerCount('request'), 'no listener of ours on the request path')
  t.equal(onRequestHooks(app), onRequestHooks(bare) + 1, 'one hook')
  t.equal((await request((app.server.address() as { port: number }).port, '/')).status, 200)
})

t.test('on the root instance a shutdown adds no request listener either: every Fastify route passes the gate', async t => {
  const bare = await serve(false)
  t.teardown(() => bare.close())
  const app = await serve(true)
  t.teardown(() => app.close())
  await app.drain()
  t.equal(app.server.listenerCount('request'), bare.server.listenerCount('request'))
})
