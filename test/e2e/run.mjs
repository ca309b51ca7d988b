// Standalone runner for the e2e scenarios: prints the side-by-side table (or JSON with --json).
//   node test/e2e/run.mjs haproxy [--only plugin|plain] [--restarts N] [--delay MS] [--json] [--keep]
//   node test/e2e/run.mjs pm2     [--only plugin|plain] [--reloads N]  [--json] [--keep]
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { runRollingRestart } from './support/rolling.mjs'
import { haproxyVersion } from './support/haproxy.mjs'
import { runPm2Reload } from './support/pm2.mjs'
import { table } from './support/report.mjs'
import { teardownAll } from './support/procs.mjs'

const root = fileURLToPath(new URL('../../', import.meta.url))
export const APPS = {
  plugin: `${root}examples/app.mjs`,
  plain: `${root}test/fixtures/e2e/plain-app.mjs`
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    only: { type: 'string' },
    app: { type: 'string' }, // run this app file instead (debugging)
    delay: { type: 'string', default: '1500' }, // the plugin's delay behind HAProxy, in ms
    restarts: { type: 'string', default: '10' },
    reloads: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false }
  }
})
const which = positionals[0]

// Stopped from outside (the tap test's time limit, Ctrl-C): leave no HAProxy, app or pm2 behind.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    console.error(`${signal}: tearing down`)
    teardownAll().finally(() => process.exit(1))
  })
}
const cases = values.only ? [values.only] : ['plugin', 'plain']
const results = []

if (which === 'haproxy') {
  const version = haproxyVersion()
  if (!version) {
    console.error('haproxy not found on PATH: install it (Debian: apt-get install -y haproxy)')
    process.exit(2)
  }
  for (const name of cases) {
    results.push(await runRollingRestart({
      name,
      app: values.app ?? APPS[name],
      restarts: Number(values.restarts),
      keep: values.keep,
      // The plugin: readiness fails at once, keep serving for longer than HAProxy's fall*inter.
      env: name === 'plugin' ? { GRACEFUL_DELAY: values.delay, GRACEFUL_TIMEOUT: '10000' } : {}
    }))
  }
} else if (which === 'pm2') {
  for (const name of cases) {
    results.push(await runPm2Reload({ name, app: values.app ?? APPS[name], reloads: Number(values.reloads), keep: values.keep }))
  }
} else {
  console.error('usage: node test/e2e/run.mjs haproxy|pm2 [--only plugin|plain] [--json] [--keep]')
  process.exit(2)
}

if (values.json) {
  process.stdout.write(JSON.stringify({ results, table: table(which, results) }) + '\n')
} else {
  console.log(table(which, results))
  for (const r of results) {
    for (const f of r.failures.slice(0, 10)) console.log(`  ${r.name}: ${JSON.stringify(f)}`)
    if (values.keep) console.log(`  ${r.name}: logs kept in ${r.dir}`)
  }
}
