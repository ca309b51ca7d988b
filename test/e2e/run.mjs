// Standalone runner for the e2e scenarios: prints the side-by-side table (or JSON with --json).
//   node test/e2e/run.mjs haproxy|nginx|k8s [--only plugin|plain] [--restarts N] [--connections N] [--delay MS] [--json] [--keep]
//     haproxy: HTTP mode, active checks; nginx: passive only; k8s: HAProxy in TCP mode, no retries, the
//     server put into maintenance --maint-after ms after SIGTERM, the apps see KUBERNETES_SERVICE_HOST.
//     The plugin runs as the README's quick start plus `health: true`; --delay MS runs examples/app.mjs
//     with that delay instead (the tuned configuration).
//   node test/e2e/run.mjs pm2     [--only plugin|plain] [--reloads N]  [--json] [--keep]
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { runRollingRestart } from './support/rolling.mjs'
import { haproxyVersion } from './support/haproxy.mjs'
import { nginxVersion } from './support/nginx.mjs'
import { runPm2Reload } from './support/pm2.mjs'
import { table } from './support/report.mjs'
import { teardownAll } from './support/procs.mjs'

const root = fileURLToPath(new URL('../../', import.meta.url))
export const APPS = {
  plugin: `${root}test/fixtures/e2e/quickstart-app.mjs`,
  tuned: `${root}examples/app.mjs`,
  plain: `${root}test/fixtures/e2e/plain-app.mjs`
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    only: { type: 'string' },
    app: { type: 'string' }, // run this app file instead (debugging)
    delay: { type: 'string' }, // run examples/app.mjs with this delay, in ms, instead of the quick start
    restarts: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
    'maint-after': { type: 'string', default: '1000' },
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

if (which === 'haproxy' || which === 'nginx' || which === 'k8s') {
  const version = which === 'nginx' ? nginxVersion() : haproxyVersion()
  if (!version) {
    const binary = which === 'nginx' ? 'nginx' : 'haproxy'
    console.error(`${binary} not found on PATH: install it (Debian: apt-get install -y ${binary})`)
    process.exit(2)
  }
  for (const name of cases) {
    const tuned = name === 'plugin' && values.delay !== undefined
    results.push(await runRollingRestart({
      name,
      app: values.app ?? (tuned ? APPS.tuned : APPS[name]),
      balancer: which,
      restarts: Number(values.restarts),
      connections: Number(values.connections),
      maintAfterMs: Number(values['maint-after']),
      keep: values.keep,
      env: {
        ...(which === 'k8s' ? { KUBERNETES_SERVICE_HOST: '10.0.0.1' } : {}),
        ...(tuned ? { GRACEFUL_DELAY: values.delay, GRACEFUL_TIMEOUT: '10000' } : {})
      }
    }))
  }
} else if (which === 'pm2') {
  for (const name of cases) {
    results.push(await runPm2Reload({ name, app: values.app ?? APPS[name], reloads: Number(values.reloads), keep: values.keep }))
  }
} else {
  console.error('usage: node test/e2e/run.mjs haproxy|nginx|k8s|pm2 [--only plugin|plain] [--json] [--keep]')
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
