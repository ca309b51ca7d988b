// Nothing lost with real dependencies: an orders service on a real PostgreSQL 15 (@fastify/postgres) and a
// BullMQ worker on a real redis-server, 16 keep-alive clients creating orders, SIGTERM mid-load, then a second instance
// consumes what is left. Every acknowledged order is processed exactly once, no job fails or is left behind, the
// instance exits 0 within its timeout: with the plugin registered first and last, with the README's quick-start code,
// with app.addConsumer(), and, as the baseline, plain Fastify closing its worker in an onClose.
import t, { type Test } from 'tap'
import { missing } from '../helpers/system.ts'
import { runOrders, type OrdersResult } from './orders-scenario.ts'

t.setTimeout(330_000)

const skip = missing('/usr/lib/postgresql/15/bin/initdb', { args: ['--version'], install: 'postgresql' }) ||
  missing('redis-server', { args: ['--version'] })

const DEPLOYS = Number(process.env.ORDERS_DEPLOYS ?? 3)
const PARALLEL = Number(process.env.ORDERS_PARALLEL ?? 3)
const VARIANTS = ['plugin-first', 'plugin-last', 'readme-quickstart', 'consumer', 'plain']

function nothingLost (t: Test, r: OrdersResult, exitCode = true): void {
  const what = `${r.variant} #${r.deploy}`
  if (r.error !== undefined) {
    t.fail(`${what}: ${r.error}`)
    return
  }
  t.ok(r.load.acked > 50, `${what}: the load ran (${r.load.acked} orders acknowledged out of ${r.load.sent} sent)`)
  t.equal(r.ackedMissing, 0, `${what}: every acknowledged order is in the database`)
  t.equal(r.failed, 0, `${what}: no job failed${r.failed > 0 ? ` (${JSON.stringify(r.failedReasons)})` : ''}`)
  t.equal(r.lost, 0, `${what}: every order processed (of ${r.orders}; unprocessed by job state: ${JSON.stringify(r.lostStates)})`)
  t.equal(r.withoutJob, 0, `${what}: no order without its job`)
  t.equal(r.duplicated, 0, `${what}: no order processed twice (${r.processedTotal} processings for ${r.orders} orders)`)
  if (r.variant !== 'example') t.equal(r.processings, r.processedTotal, `${what}: one processings row per processing`)
  t.equal(r.leftInQueue, 0, `${what}: nothing left waiting, active or delayed (${JSON.stringify(r.counts)})`)
  if (exitCode) t.equal(r.exitCode, 0, `${what}: instance A exited 0`)
  t.ok(r.exitMs <= r.bound, `${what}: SIGTERM → exit ${r.exitMs} ms, within the ${r.bound} ms timeout`)
}

t.test(`orders service, ${DEPLOYS} deploys per variant (the example users copy: 1): nothing lost, failed or duplicated`, { skip }, async t => {
  // PARALLEL deploys at a time, each with its own database, queue, instances and load (on one cluster and redis-server).
  const args = [...VARIANTS, 'example:1', '--deploys', String(DEPLOYS), '--parallel', String(PARALLEL)]
  const { results, table } = await runOrders(t, args, 300_000)
  t.comment(`orders service, SIGTERM under load, then instance B drains the queue\n${table}`)
  for (const [variant, deploys] of [...VARIANTS.map(v => [v, DEPLOYS] as const), ['example', 1] as const]) {
    const rs = results.filter(r => r.variant === variant)
    t.equal(rs.length, deploys, `${variant}: ${deploys} deploy(s) ran`)
    for (const r of rs) nothingLost(t, r)
  }
})

t.test('consumer: jobs still running at the drain deadline go back to the queue, none failed', { skip }, async t => {
  // One order in 8 takes 4 s; with timeout 3000 the drain deadline cuts the slow jobs A holds: cancel() hands them back.
  const { results, table } = await runOrders(t, ['consumer', '--slow', '8', '--timeout', '3000'], 120_000)
  t.comment(`consumer, jobs longer than the drain\n${table}`)
  const [r] = results
  nothingLost(t, r!, false)
  t.ok((r!.byInstance?.b ?? 0) > 0, 'instance B processed the jobs A handed back')
  t.ok(r!.summary !== undefined, 'instance A logged its summary')
})
