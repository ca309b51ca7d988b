// Real PostgreSQL and Redis for the e2e tests: a throwaway PostgreSQL 15 cluster and a throwaway redis-server per run,
// on free loopback ports, each removed at teardown (also when the runner is stopped by a signal: onTeardown).
// Never the system cluster on 5432. stop()/kill() are there for the fault scenarios too (mid-test).
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, chownSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, start, waitExit, isRunning, onTeardown, until, readLog } from './procs.mjs'

export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'

/** Why PostgreSQL cannot be started here (a reason to print), or false. */
export function postgresMissing () {
  if (!existsSync(join(PG_BIN, 'initdb'))) return `PostgreSQL 15 not found in ${PG_BIN} (Debian: apt-get install -y postgresql)`
  if (isRoot() && uidOf('postgres') === undefined) return 'running as root and there is no postgres user to run initdb as'
  return false
}

/** Why redis-server cannot be started here, or false. */
export function redisMissing () {
  const res = spawnSync('redis-server', ['--version'], { stdio: 'ignore' })
  return res.error === undefined && res.status === 0 ? false : 'redis-server is not on PATH (Debian: apt-get install -y redis-server)'
}

function isRoot () {
  return process.getuid?.() === 0
}

function uidOf (user) {
  const res = spawnSync('id', ['-u', user], { encoding: 'utf8' })
  return res.status === 0 ? Number(res.stdout.trim()) : undefined
}

/** initdb and pg_ctl refuse root: run them as the postgres user then. */
function pgCommand (binary, args, opts = {}) {
  const command = join(PG_BIN, binary)
  const res = isRoot()
    ? spawnSync('runuser', ['-u', 'postgres', '--', command, ...args], { encoding: 'utf8', timeout: 60_000, ...opts })
    : spawnSync(command, args, { encoding: 'utf8', timeout: 60_000, ...opts })
  return res
}

/**
 * A new PostgreSQL cluster in a temp dir, listening on 127.0.0.1:port and a socket in that dir, trust auth.
 * Returns { port, url(database), stop({ mode }), kill(), remove() }; remove() (stop + rm) runs at teardown whatever happens.
 */
export async function startPostgres () {
  const dir = mkdtempSync(join(tmpdir(), 'fg-pg-'))
  if (isRoot()) chownSync(dir, uidOf('postgres'), Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim()))
  const data = join(dir, 'data')
  let removed = false
  const remove = async () => {
    if (removed) return
    removed = true
    cancel()
    stopSync('fast')
    killPostmaster()
    rmSync(dir, { recursive: true, force: true })
  }
  const cancel = onTeardown(remove)
  try {
    const init = pgCommand('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'])
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.error}`)
    const port = await freePort()
    const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`
    const started = pgCommand('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', '-t', '30', 'start'])
    if (started.status !== 0) throw new Error(`pg_ctl start failed: ${started.stderr}${serverLog(dir)}`)
    return {
      port,
      dir,
      url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
      /** pg_ctl stop: 'fast' (the default) or 'immediate' (a crash, for the fault tests). Bounded by pg_ctl's own -t. */
      stop: ({ mode = 'fast' } = {}) => stopSync(mode),
      /** SIGKILL the postmaster (the last resort). */
      kill: killPostmaster,
      remove,
      log: () => serverLog(dir)
    }
  } catch (err) {
    await remove()
    throw err
  }

  function stopSync (mode) {
    if (!existsSync(join(data, 'postmaster.pid'))) return true
    const res = pgCommand('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '15', 'stop'])
    return res.status === 0
  }

  function killPostmaster () {
    try {
      const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0])
      if (pid > 0) process.kill(pid, 'SIGKILL')
    } catch {}
  }
}

function serverLog (dir) {
  return readLog(join(dir, 'server.log')).slice(-2000)
}

/**
 * A redis-server on a free port, no persistence. Returns { port, url, stop(), kill(), remove() }.
 */
export async function startRedis () {
  const port = await freePort()
  const proc = start('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'])
  const remove = async () => {
    cancel()
    if (isRunning(proc)) {
      proc.child.kill('SIGTERM')
      if (!await waitExit(proc, 5000)) {
        proc.child.kill('SIGKILL')
        await waitExit(proc, 5000)
      }
    }
  }
  const cancel = onTeardown(remove)
  try {
    await until(() => ping(port), { ms: 10_000, what: `redis-server on port ${port}` })
  } catch (err) {
    await remove()
    throw err
  }
  return {
    port,
    pid: proc.pid,
    url: `redis://127.0.0.1:${port}`,
    /** SIGKILL now (the fault tests), and wait for the exit. */
    kill: async () => {
      proc.child.kill('SIGKILL')
      await waitExit(proc, 5000)
    },
    remove
  }
}

/** One PING over a raw socket: true when the server answers +PONG. */
async function ping (port) {
  const { createConnection } = await import('node:net')
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' })
    const done = (ok) => { socket.destroy(); resolve(ok) }
    socket.setTimeout(1000, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.once('data', (chunk) => done(chunk.toString().startsWith('+PONG')))
  })
}
