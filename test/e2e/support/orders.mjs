// One deploy of the orders service against real PostgreSQL and Redis: instance A under keep-alive load, SIGTERM to A
// mid-load, then instance B (the same code) consumes what is left; then every order and job is accounted for from
// PostgreSQL and the BullMQ queue. The fault scenarios stop PostgreSQL or kill Redis at the SIGTERM.
import http from 'node:http'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { Queue } from 'bullmq'
import { freePort, start, waitExit, killAll, until, isRunning, readLog } from './procs.mjs'

export const ORDERS_APP = fileURLToPath(new URL('../../fixtures/e2e/orders-app.mjs', import.meta.url))
/** The example users copy, deployed the same way (variant 'example'): it must lose nothing either. */
export const EXAMPLE_APP = fileURLToPath(new URL('../../../examples/orders-service.mjs', import.meta.url))

export const SCHEMA = `
  CREATE TABLE orders (id text PRIMARY KEY, item text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
                       processed int NOT NULL DEFAULT 0, processed_by text);
  CREATE TABLE processings (order_id text NOT NULL, instance text NOT NULL, at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE instances (name text NOT NULL, stopped_at timestamptz NOT NULL);
`

/** A new database with the schema, on the throwaway cluster: one per deploy, so deploys never see each other's rows. */
export async function createDatabase (postgres, name) {
  const admin = new pg.Client({ connectionString: postgres.url() })
  await admin.connect()
  try { await admin.query(`CREATE DATABASE ${name}`) } finally { await admin.end() }
  const db = new pg.Client({ connectionString: postgres.url(name) })
  await db.connect()
  try { await db.query(SCHEMA) } finally { await db.end() }
  return postgres.url(name)
}

/**
 * Keep-alive clients POSTing orders to one instance. Each order carries its own id (the job's id too), so an
 * acknowledged order (2xx) can be looked up afterwards. A failure while the instance shuts down is fine only if the
 * order was not written: the accounting checks that from the database.
 */
export function startOrders ({ port, clients = 16, pauseMs = 100, timeoutMs = 10_000, slow = 0 }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients })
  const acked = new Set()
  const failures = {}
  const state = { running: true, sent: 0 }
  const one = () => new Promise((resolve) => {
    const id = randomUUID()
    // With `slow`, one order in `slow` is an item whose job outlasts the drain (the consumer's deadline path).
    const body = JSON.stringify({ id, item: slow > 0 && state.sent % slow === 0 ? 'slow' : 'book' })
    state.sent++
    const req = http.request({ host: '127.0.0.1', port, agent, method: 'POST', path: '/orders', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume()
      res.on('end', () => {
        if (res.statusCode >= 200 && res.statusCode < 300) acked.add(id)
        else count(`status ${res.statusCode}`)
        resolve()
      })
      res.on('error', () => { count('response error'); resolve() })
    })
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })))
    req.on('error', (err) => { count(err.code ?? err.name); resolve() })
    req.end(body)
  })
  const count = (kind) => { failures[kind] = (failures[kind] ?? 0) + 1 }
  const client = async () => {
    while (state.running) {
      await one()
      await sleep(pauseMs / 2 + Math.random() * pauseMs)
    }
  }
  const running = Array.from({ length: clients }, client)
  return {
    acked,
    state,
    async stop () {
      state.running = false
      await Promise.all(running)
      agent.destroy()
      return { sent: state.sent, acked: acked.size, failures }
    }
  }
}

/** Start one instance of the orders app and wait (bounded) until it answers. */
export async function startInstance ({ variant, instance, dir, env, n = 0 }) {
  const port = await freePort()
  const log = join(dir, `${n}-${variant}-${instance}.log`)
  const example = variant === 'example'
  const proc = start(process.execPath, [example ? EXAMPLE_APP : ORDERS_APP], {
    log,
    env: { VARIANT: variant, INSTANCE: instance, PORT: String(port), HOST: '127.0.0.1', ...env }
  })
  await until(async () => {
    if (!isRunning(proc)) {
      await proc.logged
      throw new Error(`instance ${instance} (${variant}) exited at start-up:\n${readLog(log)}`)
    }
    return ping(port, example ? '/health/live' : '/ping')
  }, { ms: 15_000, what: `instance ${instance} (${variant}) to answer` })
  return { proc, port, log }
}

function ping (port, path) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode === 200))
    })
    req.setTimeout(1000, () => req.destroy())
    req.on('error', () => resolve(false))
  })
}

/** The plugin's summary line (`graceful.event: 'end'`) from an instance's log, if it wrote one. */
export function summaryOf (file) {
  for (const line of readLog(file).split('\n').reverse()) {
    if (!line.startsWith('{')) continue
    try {
      const entry = JSON.parse(line)
      if (entry.graceful?.event === 'end') return entry.graceful
    } catch {}
  }
  return undefined
}

/**
 * One deploy: A under load, SIGTERM to A after `loadMs`, [fault], B consumes the rest, then the accounting.
 * @param {object} opts
 * @param {string} opts.variant
 * @param {{ url: (db?: string) => string, stop: Function }} opts.postgres
 * @param {{ url: string, kill: Function }} opts.redis
 * @param {string} opts.dir        logs
 * @param {number} opts.n          deploy number (its database and queue names)
 * @param {'pg'|'redis'} [opts.fault]
 */
export async function deploy ({ variant, postgres, redis, dir, n, fault, loadMs = 2000, timeout = 8000, clients = 16, jobMs = '50-300', slow = 0 }) {
  const database = `orders_${n}`
  const queueName = `orders-${n}`
  const url = await createDatabase(postgres, database)
  const env = {
    PG_URL: url,
    DATABASE_URL: url,
    REDIS_URL: redis.url,
    QUEUE: queueName,
    TIMEOUT: String(timeout),
    GRACEFUL_TIMEOUT: String(timeout),
    JOB_MS: jobMs,
    ...(fault ? { FAULT_HOOK: '1' } : {})
  }
  const bound = variant === 'readme-quickstart' ? 25_000 : timeout
  const result = { variant, deploy: n, fault: fault ?? null, bound, phases: {} }
  let last = Date.now()
  const phase = (name) => { const now = Date.now(); result.phases[name] = now - last; last = now }
  const procs = []
  let load
  try {
    const a = await startInstance({ variant, instance: 'a', dir, env, n })
    procs.push(a.proc)
    phase('start A')
    load = startOrders({ port: a.port, clients, slow })
    await sleep(loadMs) // the load runs a while; the SIGTERM lands mid-load
    // The fault lands at the SIGTERM: just before it, so that the shutdown always meets it (just after it, a fast
    // shutdown could be over before pg_ctl had stopped the server).
    if (fault === 'pg') postgres.stop({ mode: 'immediate' })
    if (fault === 'redis') await redis.kill()
    const signalled = Date.now()
    a.proc.child.kill('SIGTERM')
    const exited = await waitExit(a.proc, bound + 5000)
    result.exitMs = Date.now() - signalled
    phase('load and A\'s shutdown')
    result.exitCode = exited ? (exited.code ?? exited.signal) : 'killed (still running)'
    if (!exited) await killAll([a.proc])
    const acked = load.acked
    result.load = await load.stop()
    load = undefined
    result.summary = summaryOf(a.log)
    result.logA = a.log
    if (fault) return result // the fault runs account for the exit, not for the data (the dependency is gone)

    const queue = new Queue(queueName, { connection: { host: '127.0.0.1', port: new URL(redis.url).port, maxRetriesPerRequest: null } })
    try {
      result.afterA = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'paused', 'failed', 'completed')
      const b = await startInstance({ variant, instance: 'b', dir, env: { ...env, CONCURRENCY: '16' }, n })
      procs.push(b.proc)
      phase('start B')
      const left = async () => {
        const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'paused')
        return Object.values(c).reduce((a, b) => a + b, 0)
      }
      // B consumes what is left; jobs still locked by A (active) would wait for BullMQ's stalled check: bounded.
      await until(async () => (await left()) === 0, { ms: 30_000, what: 'instance B to empty the queue' }).catch(() => {})
      phase('B empties the queue')
      b.proc.child.kill('SIGTERM')
      const bExit = await waitExit(b.proc, bound + 5000)
      phase('B\'s shutdown')
      result.exitCodeB = bExit ? (bExit.code ?? bExit.signal) : 'killed'
      Object.assign(result, await account({ url: env.PG_URL, queue }))
      result.ackedMissing = await ackedMissing(env.PG_URL, acked)
      phase('accounting')
    } finally {
      await queue.close()
    }
    return result
  } finally {
    if (load) await load.stop()
    await killAll(procs)
  }
}

/**
 * Every order accounted for: processed exactly once (its processings rows too), none acknowledged and missing, none
 * without its job; the queue left empty, nothing failed.
 */
async function account ({ url, queue }) {
  const db = new pg.Client({ connectionString: url })
  await db.connect()
  try {
    const orders = Number((await db.query('SELECT count(*) FROM orders')).rows[0].count)
    const processings = Number((await db.query('SELECT count(*) FROM processings')).rows[0].count)
    const { sum, done } = (await db.query('SELECT coalesce(sum(processed), 0)::int AS sum, count(*) FILTER (WHERE processed > 0)::int AS done FROM orders')).rows[0]
    const unprocessed = (await db.query('SELECT id FROM orders WHERE processed = 0')).rows.map(r => r.id)
    const byInstance = Object.fromEntries((await db.query('SELECT instance, count(*) FROM processings GROUP BY instance')).rows.map(r => [r.instance, Number(r.count)]))
    const states = {}
    for (const id of unprocessed) {
      const state = await queue.getJobState(id)
      states[state] = (states[state] ?? 0) + 1
    }
    const failed = await queue.getFailedCount()
    const failedReasons = {}
    for (const job of await queue.getFailed(0, 200)) failedReasons[job.failedReason] = (failedReasons[job.failedReason] ?? 0) + 1
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'paused', 'failed', 'completed')
    return {
      orders,
      processings,
      processedTotal: sum,
      lost: unprocessed.length,
      lostStates: states,
      withoutJob: states.unknown ?? 0,
      // Each processing adds 1 to its order's count (the fixture also writes a processings row in the same transaction).
      duplicated: sum - done,
      failed,
      failedReasons,
      leftInQueue: counts.waiting + counts.active + counts.delayed + counts.prioritized + counts.paused,
      counts,
      byInstance
    }
  } finally {
    await db.end()
  }
}

/** Acknowledged orders missing from the database: computed where the client's ids are (the runner). */
export async function ackedMissing (url, acked) {
  const db = new pg.Client({ connectionString: url })
  await db.connect()
  try {
    const { rows } = await db.query('SELECT count(*) FROM unnest($1::text[]) AS a(id) WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = a.id)', [[...acked]])
    return Number(rows[0].count)
  } finally {
    await db.end()
  }
}
