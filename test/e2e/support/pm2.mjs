// pm2 reload under load: pm2 from node_modules, cluster mode with 2 workers, a private PM2_HOME,
// the load sent straight to the port the pm2 daemon owns. `pm2 kill` always runs in teardown.
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort, onTeardown, until } from './procs.mjs'
import { startLoad } from './load.mjs'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const PM2 = join(root, 'node_modules/pm2/bin/pm2')
export const APP_NAME = 'fastify-graceful-example'

/**
 * The baseline gets the ecosystem a plain app would have: no 'ready' message, so no wait_ready, and
 * pm2's default kill_timeout (1600 ms): a cluster worker keeps its IPC channel open and never exits by itself.
 */
function plainEcosystem (dir, app) {
  const file = join(dir, 'plain.config.cjs')
  writeFileSync(file, `module.exports = { apps: [{
  name: ${JSON.stringify(APP_NAME)},
  script: ${JSON.stringify(app)},
  exec_mode: 'cluster',
  instances: 2,
  env: { PORT: process.env.PORT, LOG_LEVEL: 'warn' }
}] }\n`)
  return file
}

/** examples/ecosystem.config.cjs as it is; another app file (debugging) with the same settings. */
function pluginEcosystem (dir, app) {
  const example = join(root, 'examples/ecosystem.config.cjs')
  if (app === join(root, 'examples/app.mjs')) return example
  const file = join(dir, 'plugin.config.cjs')
  writeFileSync(file, `const config = require(${JSON.stringify(example)})
config.apps[0].script = ${JSON.stringify(app)}
module.exports = config\n`)
  return file
}

/**
 * @param {object} opts
 * @param {'plugin'|'plain'} opts.name
 * @param {string} opts.app    the app file (the plugin case uses examples/ecosystem.config.cjs as is)
 * @param {number} [opts.reloads]
 * @param {Record<string,string>} [opts.env]
 * @param {boolean} [opts.keep]
 */
export async function runPm2Reload ({ name, app, reloads = 3, env = {}, keep = false }) {
  const dir = mkdtempSync(join(tmpdir(), `fg-e2e-pm2-${name}-`))
  const t0 = Date.now()
  const events = []
  const note = (what) => events.push({ at: Date.now() - t0, what })
  const port = await freePort()
  const pm2Env = { ...process.env, PM2_HOME: join(dir, 'pm2'), PORT: String(port), LOG_LEVEL: 'warn', ...env }
  delete pm2Env.NODE_V8_COVERAGE
  const pm2 = async (...args) => {
    const { stdout } = await promisify(execFile)(process.execPath, [PM2, ...args], { env: pm2Env, cwd: root, timeout: 120_000 })
    return stdout
  }
  const workers = async () => JSON.parse(await pm2('jlist'))
    .filter((p) => p.name === APP_NAME)
    .map((p) => ({ id: p.pm_id, pid: p.pid, status: p.pm2_env.status }))
  const ecosystem = name === 'plain' ? plainEcosystem(dir, app) : pluginEcosystem(dir, app)
  let load
  let restarts = 0
  const forget = onTeardown(() => pm2('kill'))
  const reloadTimes = []
  try {
    await pm2('start', ecosystem)
    await until(async () => {
      const list = await workers()
      return list.length === 2 && list.every((w) => w.status === 'online') && await reachable(port)
    }, { ms: 20_000, what: 'two online pm2 workers answering' })
    note(`started: ${JSON.stringify(await workers())}`)
    load = startLoad({ origin: `http://127.0.0.1:${port}`, t0 })
    await sleep(1000)
    for (let i = 0; i < reloads; i++) {
      const before = await workers()
      const began = Date.now()
      note(`pm2 reload #${i + 1} (pids ${before.map((w) => w.pid).join(', ')})`)
      await pm2('reload', APP_NAME)
      const after = await until(async () => {
        const list = await workers()
        return list.length === 2 && list.every((w) => w.status === 'online') && list
      }, { ms: 20_000, what: 'two online pm2 workers after reload' })
      restarts += after.filter((w) => !before.some((b) => b.pid === w.pid)).length
      reloadTimes.push(Date.now() - began)
      note(`reloaded: pids ${after.map((w) => w.pid).join(', ')}`)
      await sleep(500)
    }
    await sleep(1000)
    const result = await load.stop()
    load = null
    writeFileSync(join(dir, 'events.json'), JSON.stringify({ events, failures: result.failures }, null, 1))
    return {
      name,
      ...result,
      reloads,
      restarts,
      ...stops(join(dir, 'pm2', 'pm2.log')),
      reloadMs: { min: Math.min(...reloadTimes), max: Math.max(...reloadTimes) },
      durationMs: Date.now() - t0,
      events,
      dir
    }
  } finally {
    if (load) await load.stop().catch(() => {})
    forget()
    await pm2('kill').catch((err) => { console.error(`pm2 kill failed: ${err.message}`) })
    if (!keep) rmSync(dir, { recursive: true, force: true })
  }
}

async function reachable (port) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`)
    await res.arrayBuffer()
    return res.ok
  } catch {
    return false
  }
}

/**
 * How the replaced workers ended, from pm2's own log: "App [name:_old_0] exited with code [0] via signal
 * [SIGINT]", and "still alive after <kill_timeout>ms, sending SIGKILL" when a worker overstayed.
 */
function stops (file) {
  let log = ''
  try { log = readFileSync(file, 'utf8') } catch {}
  const exitCodes = [...log.matchAll(/App \[[^\]]*:_old_\d+\] exited with code \[(\d+)\] via signal \[(\w+)\]/g)]
    .map(([, code, signal]) => signal === 'SIGKILL' ? 'SIGKILL' : Number(code))
  return { forcedKills: (log.match(/sending SIGKILL/g) ?? []).length, exitCodes }
}
