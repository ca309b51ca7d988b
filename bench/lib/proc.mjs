// Start one bench server in a child process, pinned to a core, and talk to it over IPC.
import { fork, execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const SERVER = fileURLToPath(new URL('../server.mjs', import.meta.url))
const START_TIMEOUT = 10000

let tasksetWorks = null

// Pins every thread of `pid` to `core`; false when taskset is missing or refused.
export function pin (pid, core) {
  if (tasksetWorks === false) return false
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore', timeout: 5000 })
    tasksetWorks = true
  } catch {
    tasksetWorks = false
  }
  return tasksetWorks
}

export function now () {
  return performance.timeOrigin + performance.now()
}

/**
 * @param {string} variant
 * @param {{ deadline?: number, core?: number | null, exposeGc?: boolean, nodeFlags?: string[], under?: string[], startTimeout?: number }} opts
 *   under: a command and its arguments that start node (e.g. valgrind with its options); node's path is appended
 */
export async function startServer (variant, { deadline = 10000, core = 0, exposeGc = false, nodeFlags = [], under = [], startTimeout = START_TIMEOUT } = {}) {
  const nodeArgs = [...(exposeGc ? ['--expose-gc'] : []), ...nodeFlags]
  const child = fork(SERVER, [variant], {
    // BENCH_EXEC_PATH: a wrapper that starts node (e.g. under `setarch -R`, no address-space randomisation).
    execPath: under.length > 0 ? under[0] : process.env.BENCH_EXEC_PATH || process.execPath,
    execArgv: under.length > 0 ? [...under.slice(1), process.execPath, ...nodeArgs] : nodeArgs,
    env: { ...cleanEnv(), BENCH_DEADLINE_MS: String(deadline) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc']
  })
  let stderr = ''
  child.stderr.on('data', (chunk) => { if (stderr.length < 20000) stderr += chunk })
  child.stdout.resume()

  const events = []
  const waiters = []
  child.on('message', (message) => {
    events.push({ ...message, received: now() })
    for (const waiter of [...waiters]) {
      if (waiter.type === message.type) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve(message)
      }
    }
  })

  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      const at = now()
      for (const waiter of waiters.splice(0)) waiter.reject(new Error(`${variant} exited (${code ?? signal}) before '${waiter.type}': ${stderr.trim().split('\n')[0] || ''}`))
      resolve({ code, signal, at })
    })
  })

  function waitFor (type, timeout = START_TIMEOUT) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1)
        reject(new Error(`${variant}: no '${type}' within ${timeout} ms`))
      }, timeout)
      const waiter = {
        type,
        resolve: (message) => { clearTimeout(timer); resolve(message) },
        reject: (err) => { clearTimeout(timer); reject(err) }
      }
      waiters.push(waiter)
    })
  }

  async function ask (cmd, type, timeout) {
    const answer = waitFor(type, timeout)
    child.send({ cmd })
    return answer
  }

  let exitedAlready = false
  exited.then(() => { exitedAlready = true })

  // Stop it for good, whatever state it is in; bounded.
  async function kill () {
    if (!exitedAlready) child.kill('SIGKILL')
    return exited
  }

  let port
  try {
    port = (await waitFor('ready', startTimeout)).port
  } catch (err) {
    await kill()
    err.stderr = stderr
    throw err
  }
  const pinned = core === null ? false : pin(child.pid, core)
  return { variant, child, pid: child.pid, port, events, waitFor, ask, exited, kill, pinned, get stderr () { return stderr } }
}

/**
 * One name per process, `variant#n`, the variants interleaved (a, b, c, a, b, c, ...): no variant always gets the
 * first or the last pids, ports or places in a run.
 * @param {Record<string, number>} processes  how many processes of each variant
 */
export function processNames (processes) {
  const queue = Object.entries(processes).map(([variant, n]) => Array.from({ length: n }, (_, i) => `${variant}#${i + 1}`))
  const names = []
  for (let i = 0; queue.some((q) => i < q.length); i++) for (const q of queue) if (i < q.length) names.push(q[i])
  return names
}

/**
 * Starts the process of one such name: `variant@flag;flag#n` is that variant with those Node flags (e.g.
 * plain@--hash-seed=1).
 * @param {string} name
 * @param {Parameters<typeof startServer>[1]} opts
 */
export function startNamed (name, opts = {}) {
  const [variant, flags] = name.split('#')[0].split('@')
  return startServer(variant, { ...opts, nodeFlags: flags ? flags.split(';') : [] })
}

// The bench children must not inherit a test runner's loaders or coverage collection.
export function cleanEnv () {
  const env = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(NODE_OPTIONS|NODE_V8_COVERAGE|TAP|_TAPJS|TS_NODE)/.test(key)) continue
    env[key] = value
  }
  return env
}
