// Child processes for the e2e scenarios: start, wait for exit (bounded), kill in teardown.
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { createWriteStream, readFileSync } from 'node:fs'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'

// A port for a scenario's listener (an app instance, a balancer, a database), picked below the kernel's ephemeral range.
// A port from listen(0), released at once, sits in that range: until the scenario's process binds it, another test's
// listen(0) or an outgoing connection (the load makes hundreds a second) may take it, and the process dies at start with
// EADDRINUSE (most likely how a CI run lost a plain-Fastify instance). Below the range only these picks compete: at random,
// checked free by binding, never twice from one runner.
const EPHEMERAL_LOW = ephemeralLow()
const PICK_FROM = Math.max(1024, EPHEMERAL_LOW - 12_000)
const handedOut = new Set()

function ephemeralLow () {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768
  } catch {
    return 32768
  }
}

/** Bind `port` on loopback (0: the kernel picks one) and release it at once: the port, or null when it is taken. */
async function bindAndRelease (port) {
  const server = createServer()
  server.listen(port, '127.0.0.1')
  try {
    await once(server, 'listening')
  } catch {
    return null
  }
  const bound = /** @type {import('node:net').AddressInfo} */ (server.address()).port
  server.close()
  await once(server, 'close')
  return bound
}

export async function freePort () {
  if (EPHEMERAL_LOW - PICK_FROM < 1000) return bindAndRelease(0) // a machine whose ephemeral range leaves little below it
  for (let tries = 0; tries < 200; tries++) {
    const port = PICK_FROM + Math.floor(Math.random() * (EPHEMERAL_LOW - PICK_FROM))
    if (handedOut.has(port) || await bindAndRelease(port) === null) continue
    handedOut.add(port)
    return port
  }
  return bindAndRelease(0) // that range is full
}

/** What a process started with a `log` wrote there ('' if nothing yet); await `proc.logged` first for all of it. */
export function readLog (file) {
  try { return readFileSync(file, 'utf8') } catch { return '' }
}

/** Every process started here, and teardown steps (pm2 kill): all run if the runner is stopped by a signal. */
const live = new Set()
const teardowns = new Set()

export function onTeardown (fn) {
  teardowns.add(fn)
  return () => teardowns.delete(fn)
}

export async function teardownAll () {
  await Promise.allSettled([...teardowns].map((fn) => fn()))
  await killAll([...live])
}

/**
 * Spawn a process whose stdout and stderr go to a log file (kept for post-mortems); its shutdown's log lines are kept in
 * `proc.graceful` too.
 * NODE_V8_COVERAGE is dropped: tap must not count the apps' coverage from an e2e run.
 */
export function start (command, args, { env = {}, log, cwd } = {}) {
  const childEnv = { ...process.env, ...env }
  delete childEnv.NODE_V8_COVERAGE
  const child = spawn(command, args, { env: childEnv, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
    child.once('error', (error) => resolve({ code: null, signal: null, error }))
  })
  // The plugin's own log lines (pino JSON with a `graceful` field), kept whole: what each shutdown did, phase by phase.
  const proc = { child, exited, logged: exited, pid: child.pid, graceful: [] }
  let partial = ''
  child.stdout.on('data', (chunk) => {
    const lines = (partial + chunk).split('\n')
    partial = lines.pop()
    for (const line of lines) if (line.includes('"graceful":{')) proc.graceful.push(line)
  })
  live.add(proc)
  exited.then(() => live.delete(proc))
  if (log) {
    const out = createWriteStream(log, { flags: 'a' })
    child.stdout.pipe(out, { end: false })
    child.stderr.pipe(out, { end: false })
    exited.then(() => setImmediate(() => out.end()))
    proc.logged = once(out, 'finish') // the log file has what the process wrote before its exit
  } else {
    child.stdout.resume()
    child.stderr.resume()
  }
  return proc
}

export function isRunning (proc) {
  return proc.child.exitCode === null && proc.child.signalCode === null
}

/** Wait at most `ms` for the process to exit; resolves to the exit info or null on time-out. */
export async function waitExit (proc, ms) {
  const ac = new AbortController()
  const result = await Promise.race([
    proc.exited,
    sleep(ms, null, { signal: ac.signal }).catch(() => null)
  ])
  ac.abort()
  return result
}

/** Teardown: SIGKILL whatever is still running and wait for it. */
export async function killAll (procs) {
  await Promise.all(procs.map(async (proc) => {
    if (!proc || !isRunning(proc)) return
    proc.child.kill('SIGKILL')
    await waitExit(proc, 5000)
  }))
}

/** Poll `fn` every `interval` ms until it returns truthy; throw after `ms`. */
export async function until (fn, { ms, interval = 50, what }) {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await fn()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(interval)
  }
}
