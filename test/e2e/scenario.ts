// Runs test/e2e/run.mjs in a child process and hands back its JSON results.
import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

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
  durationMs: number
  events: Array<{ at: number, what: string }>
}

const root = fileURLToPath(new URL('../../', import.meta.url))

// tap records coverage in every node process spawned below a test (it hooks spawn and NODE_OPTIONS);
// the e2e processes (runner, pm2, apps) must not add partial coverage of lib/ and examples/ to the
// unit tests' report, so coverage is switched off for the whole tree, explicitly.
const noCoverage = { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' }

export function haproxyOnPath (): boolean {
  const res = spawnSync('haproxy', ['-v'], { encoding: 'utf8' })
  return res.error === undefined && res.status === 0
}

export function distBuilt (): boolean {
  const res = spawnSync(process.execPath, ['-e', "import('fastify-graceful').then(m => process.exit(typeof m.default === 'function' ? 0 : 1))"], { cwd: root, env: noCoverage })
  return res.status === 0
}

export function runScenario (which: 'haproxy' | 'pm2', limitMs: number): Promise<{ results: ScenarioResult[], table: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['test/e2e/run.mjs', which, '--json'], { cwd: root, env: noCoverage, stdio: ['ignore', 'pipe', 'pipe'] })
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
