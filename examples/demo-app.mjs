// The demo's service: an orders API with a DB pool, a queue and metrics to shut down in order.
// Run with PLAIN=1 for the same app without the plugin (process.on('SIGTERM', () => app.close())).
import Fastify from 'fastify'
import { setTimeout as sleep } from 'node:timers/promises'
import graceful from 'fastify-graceful'

const plain = process.env.PLAIN === '1'
const app = Fastify({ logger: { level: 'info' }, keepAliveTimeout: 72_000 })

if (plain) {
  process.on('SIGTERM', () => app.close())
} else {
  await app.register(graceful, { timeout: 10_000, hookTimeout: 2_000 })
  // Registered in start-up order; they run in reverse: metrics first, the DB pool last.
  app.addShutdownHook('db pool', async ({ signal }) => { await sleep(40, undefined, { signal }) })
  app.addShutdownHook('order queue', async ({ signal }) => { await sleep(60, undefined, { signal }) })
  app.addShutdownHook('metrics flush', async ({ signal }) => { await sleep(20, undefined, { signal }) })
}

app.get('/orders/:id', async (request) => {
  await sleep(20 + Math.floor(Math.random() * 380))
  return { id: request.params.id, status: 'shipped' }
})
app.get('/report', async () => {
  await sleep(400)
  return { report: 'monthly' }
})
app.post('/orders', async (request, reply) => {
  await sleep(20 + Math.floor(Math.random() * 180))
  return reply.code(201).send({ accepted: request.body })
})

await app.listen({ port: 0, host: '127.0.0.1' })
process.stdout.write(JSON.stringify({ port: app.server.address().port }) + '\n')
