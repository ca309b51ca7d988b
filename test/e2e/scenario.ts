// Runs test/e2e/run.mjs in a child process and hands back its JSON results.
import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

export interface ScenarioResult {
  name: 'plugin' | 'plain'
  requests: number
  get: number
  post: number
  ok: number
  failed: number
  byKind: Record<string, number>
  failures: Array<{ id: string, method: string, kind: string, at: number, took: number, detail?: string }>
  restarts: number
  reloads?: number
  forcedKills: number
  exitCodes?: Array<number | string>
  exitMs?: number[]
  /** Per restart: the old instance's pid, SIGTERM → exit, and the plugin's log lines of its shutdown. */
  shutdowns?: Array<{ pid: number, ms: number, lines: string[] }>
  durationMs: number
  events: Array<{ at: number, what: string }>
}

const root = fileURLToPath(new URL('../../', import.meta.url))

// tap records coverage in every node process spawned below a test (it hooks spawn and NODE_OPTIONS);
// the e2e processes (runner, pm2, apps) must not add partial coverage of lib/ and examples/ to the
// unit tests' report, so coverage is switched off for the whole tree, explicitly.
const noCoverage = { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' }

export function distBuilt (): boolean {
  const res = spawnSync(process.execPath, ['-e', "import('fastify-graceful').then(m => process.exit(typeof m.default === 'function' ? 0 : 1))"], { cwd: root, env: noCoverage })
  return res.status === 0
}

export type Rolling = 'haproxy' | 'haproxy-noretry' | 'nginx' | 'k8s' | 'k8s-late' | 'haproxy-h2c' | 'haproxy-tls' | 'haproxy-h2' |
  'nginx-tls'
export type Scenario = Rolling | 'pm2'

/**
 * The most SIGTERM → exit may take, per balancer (the quick start's longest request is about 210 ms): behind active
 * checks every 250 ms, 1.5 s plus the longest request; elsewhere the bound (maxDelay, 10 s) plus the longest request.
 */
const EXIT_LIMIT_MS: Record<Rolling, number> = {
  haproxy: 1750,
  'haproxy-noretry': 1750,
  nginx: 10_250,
  k8s: 10_250,
  'k8s-late': 10_250,
  // The same bounds whatever the protocol to the instances.
  'haproxy-h2c': 1750,
  'haproxy-tls': 1750,
  'haproxy-h2': 1750,
  'nginx-tls': 10_250
}

/**
 * How many restarts the tap tests run (the standalone runner's defaults, 10 each, make the documented tables). With the
 * plugin, 4: each instance restarted twice, the second time an instance itself started under load, every restart
 * with requests in flight at the signal; a regression that fails a restart shows on each of them. Plain Fastify's
 * failures show on any restart: 3 of them print the baseline, 2 over HTTP/2, where each waits for the SIGKILL (15 s).
 * The two cases run at the same time, each with its own balancer, instances and load, so over HTTP/2 (about 90
 * requests a second through HAProxy) the plugin restarts 8 times in the time plain Fastify's 2 take: enough load for
 * the "more than 500 GET and 500 POST" check below.
 */
const RESTARTS: Partial<Record<Rolling, number>> = { 'haproxy-h2c': 8, 'haproxy-h2': 8 }
const PLAIN_RESTARTS: Partial<Record<Rolling, number>> = { 'haproxy-h2c': 2, 'haproxy-h2': 2 }
export const restarts = (which: Rolling): number => RESTARTS[which] ?? 4
export const plainRestarts = (which: Rolling): number => PLAIN_RESTARTS[which] ?? 3

export function runScenario (which: Scenario, limitMs: number, args: string[] = []): Promise<{ results: ScenarioResult[], table: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['test/e2e/run.mjs', which, ...args, '--json'], { cwd: root, env: noCoverage, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk })
    const timer = setTimeout(() => child.kill('SIGTERM'), limitMs)
    // The runner tears everything down on SIGTERM: make sure it gets one if this process ends first.
    const stop = (): void => { child.kill('SIGTERM') }
    process.once('exit', stop)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      process.removeListener('exit', stop)
      if (code !== 0) {
        reject(new Error(`run.mjs ${which} ended with ${code ?? signal} (limit ${limitMs} ms)\n${stderr}${stdout.slice(-2000)}`))
        return
      }
      const { results, table } = JSON.parse(stdout) as { results: ScenarioResult[], table: string }
      resolve({ results, table })
    })
  })
}

/**
 * Rolling restart through a balancer under keep-alive GET/POST load, restarts(which) restarts: the plugin as the
 * README's quick start plus `health: true` has 0 client-visible failures; plain Fastify's count is printed.
 */
export async function rollingRestart (t: Test, which: Rolling, title: string, limitMs = 150_000): Promise<void> {
  if (!distBuilt()) {
    t.fail('dist/ is missing or stale: run `npm run build` first (the e2e apps import fastify-graceful from dist/)')
    return
  }
  const args = ['--restarts', String(restarts(which)), '--plain-restarts', String(plainRestarts(which)), '--parallel']
  const { results, table } = await runScenario(which, limitMs, args)
  t.comment(`${title}\n${table}`)
  const plugin = results.find(r => r.name === 'plugin')
  const plain = results.find(r => r.name === 'plain')
  if (plugin === undefined || plain === undefined) throw new Error('both scenarios must report')

  for (const f of plugin.failures.slice(0, 20)) t.comment(`plugin failure: ${JSON.stringify(f)}`)
  if (plugin.failed > 0) {
    // When each restart happened (ms from the start, as the failures' `at`), and what each old instance logged.
    t.comment(`plugin events:\n${plugin.events.map(e => `${e.at} ${e.what}`).join('\n')}`)
    for (const s of plugin.shutdowns!) t.comment(`shutdown of pid ${s.pid}, ${s.ms} ms:\n${s.lines.join('\n')}`)
  }
  t.comment(`plain Fastify: ${plain.failed} client-visible failures out of ${plain.requests} requests (${JSON.stringify(plain.byKind)})`)
  t.equal(plugin.failed, 0, `no client-visible failure with the plugin (${plugin.requests} requests, ${plugin.restarts} restarts)`)
  t.equal(plugin.forcedKills, 0, 'every instance exited by itself before the grace period')
  t.same(plugin.exitCodes, Array(plugin.restarts).fill(0), 'every instance exited with code 0 (no deadline hit, no hook failed)')
  t.ok(plugin.restarts >= restarts(which), `at least ${restarts(which)} restarts, each instance at least twice`)
  const slowest = Math.max(...plugin.exitMs!)
  // What a slow instance logged of its shutdown (how long it served on, and why; each phase's time): where it waited.
  for (const slow of plugin.shutdowns!.filter(s => s.ms > EXIT_LIMIT_MS[which])) {
    t.comment(`slow exit, pid ${slow.pid}, ${slow.ms} ms:\n${slow.lines.join('\n')}`)
  }
  t.ok(slowest <= EXIT_LIMIT_MS[which], `SIGTERM → exit at most ${EXIT_LIMIT_MS[which]} ms: ${plugin.exitMs!.join(', ')} ms`)
  t.ok(plugin.get > 500 && plugin.post > 500, 'GET and POST load ran throughout')
  t.ok(plain.requests > 500 && plain.restarts >= plainRestarts(which), `plain Fastify baseline ran: ${plain.failed} failures out of ${plain.requests}`)
}
