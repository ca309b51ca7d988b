// Standalone runner for the orders service with real dependencies: prints a table (or JSON with --json).
//   node test/e2e/orders.mjs [variant[:deploys] ...] [--deploys N] [--fault pg|redis] [--slow N --timeout MS] [--parallel N]
//                            [--json] [--keep]
//     variants: plugin-first plugin-last readme-quickstart consumer example plain (default: all; example: examples/orders-service.mjs)
//     each deploy: a throwaway PostgreSQL cluster and redis-server (one per run), instance A under 16 keep-alive
//     clients creating orders, SIGTERM to A after 2 s, instance B consumes what is left; then every order and job
//     is accounted for. --fault stops PostgreSQL (pg_ctl -m immediate) or kills Redis (SIGKILL) at the SIGTERM (just before it).
//     --parallel N: up to N deploys at a time (not with --fault); each has its own database, queue, instances and load.
import { parseArgs } from 'node:util'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startPostgres, startRedis, postgresMissing, redisMissing } from './support/services.mjs'
import { deploy } from './support/orders.mjs'
import { teardownAll } from './support/procs.mjs'

const VARIANTS = ['plugin-first', 'plugin-last', 'readme-quickstart', 'consumer', 'example', 'plain']

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    deploys: { type: 'string', default: '1' },
    fault: { type: 'string' },
    'load-ms': { type: 'string', default: '2000' },
    'job-ms': { type: 'string', default: '50-300' },
    slow: { type: 'string', default: '0' }, // one order in N takes SLOW_MS (4 s): longer than the drain at --timeout 3000
    timeout: { type: 'string', default: '8000' },
    parallel: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false }
  }
})
// A variant may carry its own number of deploys: `example:1`.
const runs = (positionals.length > 0 ? positionals : VARIANTS).map((arg) => {
  const [variant, count] = arg.split(':')
  return { variant, deploys: Number(count ?? values.deploys) }
})
const variants = runs.map(r => r.variant)
for (const v of variants) {
  if (!VARIANTS.includes(v)) {
    console.error(`unknown variant ${v}: one of ${VARIANTS.join(', ')}`)
    process.exit(2)
  }
}
if (values.fault !== undefined && !['pg', 'redis'].includes(values.fault)) {
  console.error('--fault pg|redis')
  process.exit(2)
}
const parallel = Number(values.parallel)
if (!(parallel >= 1) || (parallel > 1 && values.fault !== undefined)) {
  console.error('--parallel N: a number from 1 up, and 1 with --fault (a fault takes its service away from every deploy)')
  process.exit(2)
}
const why = postgresMissing() || redisMissing()
if (why) {
  console.error(why)
  process.exit(3)
}

// Stopped from outside (the tap test's time limit, Ctrl-C): leave no cluster, redis-server or app behind.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    console.error(`${signal}: tearing down`)
    teardownAll().finally(() => process.exit(1))
  })
}

const dir = mkdtempSync(join(tmpdir(), 'fg-orders-'))
const results = []
let postgres, redis
try {
  postgres = await startPostgres()
  redis = await startRedis()
  // Every deploy numbered up front (its database and queue names), in the order of the arguments.
  const jobs = runs.flatMap(({ variant, deploys }) => Array.from({ length: deploys }, (_, i) => ({ variant, i })))
    .map((job, n) => ({ ...job, n }))
  const one = async ({ variant, i, n }) => {
    // A fault leaves its service gone: each fault deploy gets fresh ones (faults run one deploy at a time).
    if (values.fault && n > 0) {
      await postgres.remove()
      await redis.remove()
      postgres = await startPostgres()
      redis = await startRedis()
    }
    const result = await deploy({
      variant,
      postgres,
      redis,
      dir,
      n,
      fault: values.fault,
      loadMs: Number(values['load-ms']),
      jobMs: values['job-ms'],
      slow: Number(values.slow),
      timeout: Number(values.timeout)
    }).catch((err) => ({ variant, deploy: n, fault: values.fault ?? null, error: err.message.slice(0, 2000) }))
    if (!values.json) console.error(`${variant} #${i + 1}: ${JSON.stringify(brief(result))}`)
    return result
  }
  // `parallel` lanes take the next deploy as each finishes; results keep the order of `jobs`.
  const done = new Array(jobs.length)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(parallel, jobs.length) }, async () => {
    while (next < jobs.length) {
      const k = next++
      done[k] = await one(jobs[k])
    }
  }))
  results.push(...done)
} finally {
  await postgres?.remove()
  await redis?.remove()
  if (!values.keep) rmSync(dir, { recursive: true, force: true })
}

function brief (r) {
  const { variant, exitCode, exitMs, lost, failed, duplicated, withoutJob, leftInQueue, ackedMissing, orders, load, summary } = r
  return { variant, exitCode, exitMs, orders, acked: load?.acked, lost, failed, duplicated, withoutJob, leftInQueue, ackedMissing, hooks: summary?.hooks }
}

function table (rows) {
  const byVariant = new Map()
  for (const r of rows) byVariant.set(r.variant, [...(byVariant.get(r.variant) ?? []), r])
  const fault = rows.some(r => r.fault)
  const head = fault
    ? ['variant', 'fault', 'exit code', 'SIGTERM → exit', 'hooks (ok / failed / timed out)']
    : ['variant', 'deploys', 'orders (acknowledged)', 'jobs lost', 'failed', 'duplicated', 'without job', 'left in queue', 'exit code', 'SIGTERM → exit (median / max)']
  const lines = [...byVariant].map(([variant, rs]) => {
    const broken = rs.find(r => r.error)
    if (broken) return [variant, `error: ${broken.error.split('\n')[0]}`, ...head.slice(2).map(() => '-')]
    const sum = (k) => rs.map(r => r[k] ?? 0).join(' / ')
    const ms = rs.map(r => r.exitMs).sort((a, b) => a - b)
    if (fault) {
      return [variant, rs.map(r => r.fault).join(', '), rs.map(r => r.exitCode).join(', '), `${ms.join(', ')} ms`,
        rs.map(r => r.summary ? `${r.summary.hooks.ok} / ${r.summary.hooks.failed} / ${r.summary.hooks.timedOut}` : 'no summary').join(', ')]
    }
    return [variant, String(rs.length), rs.map(r => `${r.orders} (${r.load.acked})`).join(' / '), sum('lost'), sum('failed'),
      sum('duplicated'), sum('withoutJob'), sum('leftInQueue'), rs.map(r => r.exitCode).join(', '),
      `${ms[Math.floor(ms.length / 2)]} / ${ms.at(-1)} ms`]
  })
  return [head, head.map(() => '---'), ...lines].map(cells => `| ${cells.join(' | ')} |`).join('\n')
}

if (values.json) {
  process.stdout.write(JSON.stringify({ results, table: table(results) }) + '\n')
} else {
  console.log(table(results))
  for (const r of results) {
    if (Object.keys(r.failedReasons ?? {}).length > 0) console.log(`  ${r.variant} #${r.deploy}: failed jobs: ${JSON.stringify(r.failedReasons)}`)
    if (r.lost > 0) console.log(`  ${r.variant} #${r.deploy}: unprocessed orders by job state: ${JSON.stringify(r.lostStates)}`)
  }
  if (values.keep) console.log(`logs kept in ${dir}`)
}
