// Standalone runner for the e2e scenarios: prints the side-by-side table (or JSON with --json).
//   node test/e2e/run.mjs haproxy|haproxy-noretry|nginx|k8s|k8s-late|haproxy-h2c|haproxy-tls|haproxy-h2|nginx-tls
//                         [--only plugin|plain] [--restarts N] [--plain-restarts N] [--parallel]
//                         [--connections N] [--fresh N] [--delay MS] [--json] [--keep]
//     haproxy: HTTP mode, active checks, retries; haproxy-noretry: the same with `retries 0`; nginx: passive only;
//     haproxy-h2c, haproxy-tls, haproxy-h2, nginx-tls: the same, the instances serving h2c, HTTPS, HTTP/2 over TLS.
//     k8s: HAProxy in TCP mode, no retries, the server put into maintenance 1 s (k8s-late: 8 s, or --maint-after ms)
//     after SIGTERM, the apps see KUBERNETES_SERVICE_HOST, 8 clients open a connection per request (--fresh N).
//     The plugin runs as the README's quick start plus `health: true`; --delay MS runs examples/app.mjs
//     with that delay instead (the tuned configuration).
//     --plain-restarts N: plain Fastify's restarts (default: as many as --restarts, 4 over HTTP/2).
//     --parallel: the two cases at the same time, each with its own balancer, instances and load (as npm test runs them).
//   node test/e2e/run.mjs pm2     [--only plugin|plain] [--reloads N] [--plain-reloads N] [--parallel] [--json] [--keep]
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
    'plain-restarts': { type: 'string' },
    connections: { type: 'string', default: '16' },
    'maint-after': { type: 'string' },
    fresh: { type: 'string' },
    reloads: { type: 'string', default: '3' },
    'plain-reloads': { type: 'string' },
    parallel: { type: 'boolean', default: false },
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
// Each case run one after the other, or (--parallel) at the same time; results in the order of `cases`. A case that
// fails is reported once the other has ended and torn down its own processes.
async function runCases (one) {
  if (!values.parallel) {
    const done = []
    for (const name of cases) done.push(await one(name))
    return done
  }
  const settled = await Promise.allSettled(cases.map(one))
  const failed = settled.find((s) => s.status === 'rejected')
  if (failed) throw failed.reason
  return settled.map((s) => s.value)
}
let results = []

// The variants: HAProxy without retries (the class of balancers that do not retry a refused connection), and the
// L4 case with the endpoint removal reaching the balancer 8 s after SIGTERM, later than the Kubernetes floor.
const VARIANTS = {
  haproxy: { balancer: 'haproxy' },
  'haproxy-noretry': { balancer: 'haproxy', retries: false },
  nginx: { balancer: 'nginx' },
  k8s: { balancer: 'k8s', fresh: 8 },
  'k8s-late': { balancer: 'k8s', fresh: 8, maintAfterMs: 8000 },
  // The same HAProxy, speaking h2c, HTTP/1.1 over TLS or HTTP/2 over TLS to the instances (and checking them so);
  // nginx over HTTPS.
  // Plain Fastify never closes an HTTP/2 session: each of its restarts waits for the SIGKILL (15 s), so fewer of them.
  'haproxy-h2c': { balancer: 'haproxy', proto: 'h2c', plainRestarts: 4 },
  'haproxy-tls': { balancer: 'haproxy', proto: 'https' },
  'haproxy-h2': { balancer: 'haproxy', proto: 'h2', plainRestarts: 4 },
  'nginx-tls': { balancer: 'nginx', proto: 'https' }
}

if (which in VARIANTS) {
  const variant = VARIANTS[which]
  const version = variant.balancer === 'nginx' ? nginxVersion() : haproxyVersion()
  if (!version) {
    const binary = variant.balancer === 'nginx' ? 'nginx' : 'haproxy'
    console.error(`${binary} not found on PATH: install it (Debian: apt-get install -y ${binary})`)
    process.exit(2)
  }
  const plainRestarts = values['plain-restarts'] ?? (values.restarts === '10' ? variant.plainRestarts : undefined)
  results = await runCases((name) => {
    const tuned = name === 'plugin' && values.delay !== undefined
    return runRollingRestart({
      name,
      app: values.app ?? (tuned ? APPS.tuned : APPS[name]),
      restarts: Number(name === 'plain' && plainRestarts !== undefined ? plainRestarts : values.restarts),
      connections: Number(values.connections),
      maintAfterMs: Number(values['maint-after'] ?? 1000),
      fresh: Number(values.fresh ?? 0),
      ...variant,
      keep: values.keep,
      env: {
        ...(variant.balancer === 'k8s' ? { KUBERNETES_SERVICE_HOST: '10.0.0.1' } : {}),
        ...(tuned ? { GRACEFUL_DELAY: values.delay, GRACEFUL_TIMEOUT: '10000' } : {})
      }
    })
  })
} else if (which === 'pm2') {
  results = await runCases((name) => runPm2Reload({
    name,
    app: values.app ?? APPS[name],
    reloads: Number(name === 'plain' ? values['plain-reloads'] ?? values.reloads : values.reloads),
    keep: values.keep
  }))
} else {
  console.error(`usage: node test/e2e/run.mjs ${Object.keys(VARIANTS).join('|')}|pm2 [--only plugin|plain] [--json] [--keep]`)
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
