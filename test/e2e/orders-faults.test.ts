// Faults during the shutdown: PostgreSQL stopped (pg_ctl -m immediate) or Redis killed (SIGKILL) at
// SIGTERM. The hook or consumer that needs the dependency fails or times out within its own limit; nothing hangs: exit 1
// within timeout + 1 s, and the summary line says exit code 1 with the failed or timed-out step counted.
import t from 'tap'
import { missing } from '../helpers/system.ts'
import { runOrders } from './orders-scenario.ts'

t.setTimeout(200_000)

const skip = missing('/usr/lib/postgresql/15/bin/initdb', { args: ['--version'], install: 'postgresql' }) ||
  missing('redis-server', { args: ['--version'] })

const TIMEOUT = 8000

for (const fault of ['pg', 'redis'] as const) {
  const what = fault === 'pg' ? 'PostgreSQL stopped' : 'Redis killed'
  t.test(`${what} at the SIGTERM: exit 1 in time, the failure counted`, { skip }, async t => {
    const { results, table } = await runOrders(t, ['plugin-first', 'consumer', '--fault', fault, '--timeout', String(TIMEOUT)], 90_000)
    t.comment(`${what}\n${table}`)
    t.equal(results.length, 2, 'both variants ran')
    for (const r of results) {
      if (r.error !== undefined) {
        t.fail(`${r.variant}: ${r.error}`)
        continue
      }
      t.equal(r.exitCode, 1, `${r.variant}: exit code 1`)
      t.ok(r.exitMs <= TIMEOUT + 1000, `${r.variant}: SIGTERM → exit ${r.exitMs} ms, within timeout + 1 s`)
      t.ok(r.summary !== undefined, `${r.variant}: the summary line was logged`)
      if (r.summary === undefined) continue
      t.equal(r.summary.exitCode, 1, `${r.variant}: the summary says exit code 1`)
      const consumers = r.summary.consumers as { failed?: number, timedOut?: number } | undefined
      const counted = r.summary.hooks.failed + r.summary.hooks.timedOut + (consumers?.failed ?? 0) + (consumers?.timedOut ?? 0)
      t.ok(counted >= 1, `${r.variant}: the failed or timed-out step is counted (hooks ${JSON.stringify(r.summary.hooks)}${consumers ? `, consumers ${JSON.stringify(consumers)}` : ''})`)
    }
  })
}
