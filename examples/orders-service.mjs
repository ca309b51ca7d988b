// An orders service in one process: HTTP in front, a BullMQ consumer behind, one PostgreSQL pool for both.
// POST /orders writes the order and queues a job; the worker processes the job with the same pool.
// On SIGTERM nothing is lost: the worker stops taking jobs at once, the jobs it holds finish (or, at the drain
// deadline, go back to the queue for the next instance), the requests in flight finish, the worker closes, and only
// then @fastify/postgres ends the pool and @fastify/redis quits, whatever order the plugins were registered in.
// Run (after `npm run build`): DATABASE_URL=postgres://… REDIS_URL=redis://127.0.0.1:6379 node examples/orders-service.mjs
// The e2e test (test/e2e/orders.test.ts) deploys this file under load against a real PostgreSQL and Redis.
import Fastify from 'fastify'
import graceful from 'fastify-graceful'
import postgres from '@fastify/postgres'
import redis from '@fastify/redis'
import { Queue, Worker, WaitingError } from 'bullmq'
import { setTimeout as sleep } from 'node:timers/promises'

const env = process.env
const app = Fastify({ logger: { level: env.LOG_LEVEL ?? 'info' } })

await app.register(graceful, { timeout: Number(env.GRACEFUL_TIMEOUT ?? 25_000), health: true })
await app.register(postgres, { connectionString: env.DATABASE_URL })
await app.register(redis, { url: env.REDIS_URL }) // the producer's client; @fastify/redis quits it in its onClose
// Without this listener, a database restart (which drops the pool's idle clients) would crash the process.
app.pg.pool.on('error', (err) => app.log.warn({ err }, 'idle database client lost'))

const queue = new Queue(env.QUEUE ?? 'orders', { connection: app.redis })

// The job's work. `signal` aborts when the shutdown's drain deadline cuts the job: pass it to whatever can wait long.
async function processOrder ({ id }, signal) {
  await sleep(50 + Math.random() * 250, undefined, { signal }) // stands in for the real work (a payment, an email)
  await app.pg.query('UPDATE orders SET processed = processed + 1 WHERE id = $1', [id])
}

// A worker needs its own connection, with maxRetriesPerRequest: null (BullMQ's rule for blocking commands).
const { hostname, port } = new URL(env.REDIS_URL ?? 'redis://127.0.0.1:6379')
const connection = { host: hostname, port: Number(port), maxRetriesPerRequest: null }

// Declare the third parameter: BullMQ passes the abort signal only to processors that take (job, token, signal).
const worker = new Worker(queue.name, async (job, token, signal) => {
  try {
    await processOrder(job.data, signal)
  } catch (err) {
    // Cut by the shutdown's deadline: back to the queue for the next instance (not failed, no lock left behind).
    if (signal?.aborted) { await job.moveToWait(token); throw new WaitingError() }
    throw err
  }
}, { connection, concurrency: 4 })

app.addConsumer('orders worker', {
  pause: () => worker.pause(), // at the signal: no new job; resolves once the jobs it holds are done
  cancel: () => worker.cancelAllJobs(), // at the drain deadline: the jobs still running hand themselves back
  close: () => worker.close() // after the drain, before @fastify/postgres ends the pool
})

app.post('/orders', async (request, reply) => {
  const { id, item } = request.body
  await app.pg.query('INSERT INTO orders (id, item) VALUES ($1, $2)', [id, item])
  await queue.add('order', { id }, { jobId: id }) // the order's id as the job's: a retried POST queues it once
  reply.code(201)
  return { id }
})

await app.pg.query(`CREATE TABLE IF NOT EXISTS orders
  (id text PRIMARY KEY, item text NOT NULL, processed int NOT NULL DEFAULT 0, created_at timestamptz DEFAULT now())`)
await app.listen({ port: Number(env.PORT ?? 3000), host: env.HOST ?? '0.0.0.0' })
