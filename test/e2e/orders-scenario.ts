// Runs test/e2e/orders.mjs in a child process (it owns the PostgreSQL cluster, the redis-server and the apps, and tears
// them down even when stopped by a signal) and hands back its JSON results.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { distBuilt } from './scenario.ts'

export interface OrdersResult {
  variant: string
  deploy: number
  fault: 'pg' | 'redis' | null
  error?: string
  bound: number
  exitCode: number | string
  exitMs: number
  load: { sent: number, acked: number, failures: Record<string, number> }
  summary?: { exitCode: number, hooks: { ok: number, failed: number, timedOut: number }, [key: string]: unknown }
  orders: number
  processings: number
  processedTotal: number
  lost: number
  lostStates: Record<string, number>
  withoutJob: number
  duplicated: number
  failed: number
  failedReasons: Record<string, number>
  leftInQueue: number
  counts: Record<string, number>
  byInstance?: Record<string, number>
  ackedMissing: number
  exitCodeB?: number | string
}

const root = fileURLToPath(new URL('../../', import.meta.url))
// No coverage from the e2e processes (see scenario.ts).
const noCoverage = { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' }

export async function runOrders (t: Test, args: string[], limitMs: number): Promise<{ results: OrdersResult[], table: string }> {
  if (!distBuilt()) throw new Error('dist/ is missing or stale: run `npm run build` first (the apps import fastify-graceful from dist/)')
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['test/e2e/orders.mjs', ...args, '--json'], { cwd: root, env: noCoverage, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk })
    const timer = setTimeout(() => child.kill('SIGTERM'), limitMs)
    const stop = (): void => { child.kill('SIGTERM') }
    process.once('exit', stop)
    t.teardown(stop)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      process.removeListener('exit', stop)
      if (code !== 0) {
        reject(new Error(`orders.mjs ${args.join(' ')} ended with ${code ?? signal} (limit ${limitMs} ms)\n${stderr}${stdout.slice(-2000)}`))
        return
      }
      resolve(JSON.parse(stdout) as { results: OrdersResult[], table: string })
    })
  })
}
