// A small Fastify service shut down by fastify-graceful: readiness and liveness routes, a database
// pool closed after the last request, the port from $PORT. Run it with `node examples/app.mjs`
// (after `npm run build`); the e2e tests run it behind HAProxy and under pm2.
import Fastify from 'fastify'
import graceful from 'fastify-graceful'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'

const env = process.env

// Stands in for a real pool (pg.Pool, mysql2, an HTTP client with keep-alive): queries take a few
// ms, one in a hundred is slow; end() waits for the queries still running, then every query fails.
function createPool () {
  const running = new Set()
  let ended = false
  return {
    async query (sql) {
      if (ended) throw new Error('pool has ended')
      const work = sleep(2 + Math.random() * 8 + (Math.random() < 0.01 ? 200 : 0), { rows: [{ sql }] })
      running.add(work)
      try { return await work } finally { running.delete(work) }
    },
    async ping () {
      if (ended) throw new Error('pool has ended')
    },
    async end () {
      ended = true
      await Promise.allSettled(running)
      await sleep(20) // closing the sockets to the database
    }
  }
}

const db = createPool()
const app = Fastify({ logger: { level: env.LOG_LEVEL ?? 'info' } })

await app.register(graceful, {
  // Below the platform's grace period: Kubernetes terminationGracePeriodSeconds (30 s by default),
  // PM2 kill_timeout, systemd TimeoutStopSec. See examples/README.md for the arithmetic.
  timeout: Number(env.GRACEFUL_TIMEOUT ?? 25_000),
  // Keep serving (readiness 503, Connection: close) while the load balancer takes us out of rotation.
  // Left undefined, the plugin picks 0, or 5000 ms when it sees KUBERNETES_SERVICE_HOST.
  delay: env.GRACEFUL_DELAY === undefined ? undefined : Number(env.GRACEFUL_DELAY),
  // GET/HEAD /health/ready and /health/live; readiness also fails while the pool cannot be used.
  health: { check: () => db.ping() }
})

// Runs after the last request has been answered, within its own time limit.
app.addShutdownHook('database pool', () => db.end(), { timeout: 5000 })

app.get('/', async () => {
  const { rows } = await db.query('select 1')
  return { hello: 'world', rows: rows.length }
})

app.post('/orders', async (request, reply) => {
  const order = { id: randomUUID(), ...(/** @type {object} */ (request.body)) }
  await db.query('insert into orders ...')
  reply.code(201)
  return order
})

await app.listen({ port: Number(env.PORT ?? 3000), host: env.HOST ?? '0.0.0.0' })
