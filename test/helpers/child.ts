import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

export interface Child {
  process: ChildProcess
  ports: number[]
  /** The line the fixture printed once it listened. */
  ready: Record<string, any>
  /** Every JSON line the child printed so far (its own events and its pino logs). */
  lines: Array<Record<string, any>>
  /** Resolves with the first line that matches, within `ms`. */
  waitFor (match: (line: Record<string, any>) => boolean, ms?: number): Promise<Record<string, any>>
  /** Resolves with the exit code and the time from `since` (ms, Date.now clock), within `ms`. */
  exited (ms?: number): Promise<{ code: number | null, signal: NodeJS.Signals | null, at: number }>
  stderr: () => string
}

const ourTypeScript = '--import=./test/helpers/ts-loader.mjs'

/**
 * The test's own loader and coverage flags, less the --no-warnings that tap adds on some Node lines. tap's own
 * TypeScript plugin (ts-node) and mock plugin are left out of the tests' processes (package.json, tap.plugin), and so
 * of the fixtures' too.
 */
export function nodeArgs (): string[] {
  return process.execArgv
    .filter(arg => arg !== '--no-warnings')
    // Named from the project's root in package.json: a child may run elsewhere.
    .map(arg => arg === ourTypeScript ? `--import=${new URL('./ts-loader.mjs', import.meta.url).href}` : arg)
}

/** The environment for a child: process warnings are part of what is tested. */
export function nodeEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, NODE_OPTIONS: (process.env.NODE_OPTIONS ?? '').replace(/"?--no-warnings"?/g, ''), ...extra }
}

export function fixture (name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url))
}

/** Starts a fixture under the same loader as the test (TypeScript, coverage) and waits until it listens. */
export async function start (file: string, args: unknown = {}, t?: { teardown (fn: () => void): void }, spawnOptions: { env?: Record<string, string>, ipc?: boolean, nodeFlags?: string[], detached?: boolean } = {}): Promise<Child> {
  const child = spawn(process.execPath, [...nodeArgs(), ...spawnOptions.nodeFlags ?? [], fixture(file), JSON.stringify(args)], {
    stdio: ['ignore', 'pipe', 'pipe', ...(spawnOptions.ipc === true ? ['ipc' as const] : [])],
    env: nodeEnv(spawnOptions.env),
    // Its own process group, for a test that signals every process of it at once (systemd's KillMode=control-group).
    detached: spawnOptions.detached === true
  })
  t?.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const lines: Array<Record<string, any>> = []
  const watchers: Array<{ match: (line: Record<string, any>) => boolean, resolve: (line: Record<string, any>) => void }> = []
  let stderr = ''
  child.stderr!.on('data', chunk => { stderr += chunk })
  createInterface({ input: child.stdout! }).on('line', text => {
    let line: Record<string, any>
    try { line = JSON.parse(text) } catch { line = { text } }
    lines.push(line)
    for (const watcher of [...watchers]) {
      if (watcher.match(line)) {
        watchers.splice(watchers.indexOf(watcher), 1)
        watcher.resolve(line)
      }
    }
  })
  // 'close', not 'exit': only then has every line the child wrote been read.
  const exit = once(child, 'close').then(([code, signal]) => ({ code, signal, at: Date.now() }))

  function waitFor (match: (line: Record<string, any>) => boolean, ms = 10_000): Promise<Record<string, any>> {
    const seen = lines.find(match)
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching line within ${ms} ms; stderr: ${stderr}; lines: ${JSON.stringify(lines).slice(-2000)}`)), ms)
      watchers.push({ match, resolve: line => { clearTimeout(timer); resolve(line) } })
      exit.then(() => setImmediate(() => { clearTimeout(timer); reject(new Error(`child exited before a matching line; stderr: ${stderr}; lines: ${JSON.stringify(lines).slice(-2000)}`)) }), () => {})
    })
  }

  const ready = await waitFor(line => Array.isArray(line.listening), 20_000)
  return {
    process: child,
    ports: ready.listening,
    ready,
    lines,
    waitFor,
    stderr: () => stderr,
    async exited (ms = 20_000) {
      let timer: NodeJS.Timeout | undefined
      const limit = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`child still running after ${ms} ms`)), ms) })
      try {
        return await Promise.race([exit, limit]) as { code: number | null, signal: NodeJS.Signals | null, at: number }
      } finally {
        clearTimeout(timer)
      }
    }
  }
}

/** The summary line the plugin logged at the end of a shutdown, for one app label. */
export function summaryOf (child: Child, app = 'main'): Record<string, any> | undefined {
  return child.lines.find(line => line.graceful?.event === 'end' && line.app === app)?.graceful
}

/**
 * ms from the moment the shutdown began to the exit, both read off the child's own clock: unlike the
 * parent's view, this does not stretch when the test runner itself is slow.
 */
export function shutdownMs (child: Child, app = 'main'): number {
  const begun = child.lines.find(line => line.graceful?.event === 'start' && (line.app === undefined || line.app === app))
  const exit = child.lines.find(line => line.exit !== undefined)
  return (exit?.time ?? NaN) - (begun?.time ?? NaN)
}
