// The deadline holds whatever the main thread does: a hook or a handler that spins, or a logger stuck on a full pipe.
// A thread of its own, started with the shutdown, ends the process at `timeout` (lib/watchdog.ts).
import t, { type Test } from 'tap'
import { spawn, execFileSync, type StdioOptions } from 'node:child_process'
import { once } from 'node:events'
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fixture, nodeArgs, nodeEnv, start } from '../helpers/child.ts'
import { request } from '../helpers/http.ts'

const DEADLINE_LINE = /fastify-graceful: the graceful shutdown was still running at its deadline \(timeout 2000 ms\): exiting with code 1/
const KILL_LINE = /fastify-graceful: the main thread did not exit within 50 ms .*: killing the process with SIGKILL/

/** ms from the signal to the exit, on the parent's clock: loose bounds only, the machine is shared. */
function withinDeadline (t: Test, ms: number): void {
  t.ok(ms >= 1900, `not before the deadline (${Math.round(ms)} ms)`)
  t.ok(ms < 2000 + 1500, `at the deadline, not 60 s later (${Math.round(ms)} ms)`)
}

t.test('a shutdown hook that spins synchronously: exit code 1 at the deadline, said on stderr', async t => {
  const child = await start('app.ts', { options: { timeout: 2000 }, hooks: [{ name: 'spinner', behaviour: 'spin' }] }, t)
  const sent = Date.now()
  child.process.kill('SIGTERM')
  await child.waitFor(line => line.hook === 'main:spinner')
  const { code, signal, at } = await child.exited(10_000)
  t.same({ code, signal }, { code: 1, signal: null })
  withinDeadline(t, at - sent)
  t.match(child.stderr(), DEADLINE_LINE)
  t.notMatch(child.stderr(), KILL_LINE, 'the main thread took the exit: no SIGKILL')
  t.ok(child.lines.some(line => line.exit === 1), 'exit handlers ran (process.exit(1) on the main thread)')
})

t.test('a request in flight whose handler spins once the shutdown began: exit code 1 at the deadline', async t => {
  const child = await start('app.ts', { options: { timeout: 2000 } }, t)
  const answer = request(child.ports[0], '/spin?after=300')
  await child.waitFor(line => line.msg === 'incoming request')
  const sent = Date.now()
  child.process.kill('SIGTERM')
  const { code, signal, at } = await child.exited(10_000)
  t.same({ code, signal }, { code: 1, signal: null })
  withinDeadline(t, at - sent)
  t.match(child.stderr(), DEADLINE_LINE)
  t.ok((await answer).error !== undefined, 'the spinning request got no answer')
})

/**
 * A FIFO that nobody reads, full, for the child's log. As stdout, Node makes it non-blocking and pino retries the write
 * in JavaScript; as fd 3, nothing does, and the write blocks in the kernel.
 */
async function fullPipe (t: Test, fd: 1 | 3): Promise<{ code: number | null, signal: NodeJS.Signals | null, ms: number, stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'graceful-fifo-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const fifo = join(dir, 'stdout')
  execFileSync('mkfifo', [fifo])
  // Read and write: the pipe always has a reader (no EPIPE), and nobody ever reads it.
  const log = openSync(fifo, constants.O_RDWR)
  const stdio: StdioOptions = fd === 1 ? ['ignore', log, 'pipe'] : ['ignore', 'ignore', 'pipe', log]
  const child = spawn(process.execPath, [...nodeArgs(), fixture('blocked-stdout.ts'), String(fd)], { stdio, env: nodeEnv() })
  closeSync(log)
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', chunk => { stderr += chunk })
  const exit = once(child, 'exit')
  while (!stderr.includes('"listening"')) await once(child.stderr!, 'data')
  // Fill it to the brim from here, so the first line the shutdown logs blocks.
  const filler = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)
  try {
    for (;;) writeSync(filler, Buffer.alloc(4096, 'x'))
  } catch (error) {
    t.equal((error as NodeJS.ErrnoException).code, 'EAGAIN', 'the pipe is full')
  }
  closeSync(filler)
  const sent = Date.now()
  child.kill('SIGTERM')
  const limit = setTimeout(() => child.kill('SIGKILL'), 10_000)
  const [code, signal] = await exit
  clearTimeout(limit)
  return { code, signal, ms: Date.now() - sent, stderr }
}

t.test('stdout is a full pipe nobody reads, pino retries the write: exit code 1 at the deadline', async t => {
  const { code, signal, ms, stderr } = await fullPipe(t, 1)
  t.same({ code, signal }, { code: 1, signal: null })
  withinDeadline(t, ms)
  t.match(stderr, DEADLINE_LINE)
})

t.test('the log is a full blocking pipe, the write blocks in the kernel: SIGKILL just after the deadline', async t => {
  const { code, signal, ms, stderr } = await fullPipe(t, 3)
  t.same({ code, signal }, { code: null, signal: 'SIGKILL' })
  withinDeadline(t, ms)
  t.match(stderr, DEADLINE_LINE)
  t.match(stderr, KILL_LINE)
})

t.test('Node\'s permission model without --allow-worker: no watchdog, the shutdown works as before (built package)', async t => {
  // tap's loaders cannot run under the permission model (tap adds them to every node it spawns, through NODE_OPTIONS):
  // the child runs the built package, as a user's app would.
  const app = `
    import Fastify from 'fastify'
    import graceful from 'fastify-graceful'
    const app = Fastify()
    await app.register(graceful, { timeout: 2000 })
    app.addShutdownHook('db', () => { console.log('hook ran') })
    await app.listen({ port: 0, host: '127.0.0.1' })
    console.log('listening')`
  // The flag lost its "experimental-" in Node 22.13 (the old name is gone from Node 24); Node 25 restricts the network
  // too, unless allowed.
  const known = process.allowedNodeEnvironmentFlags
  const permission = known.has('--permission') ? ['--permission'] : ['--experimental-permission']
  if (known.has('--allow-net')) permission.push('--allow-net')
  const flags = [...permission, '--allow-fs-read=*', '--no-warnings', '--input-type=module', '-e', app]
  // Nor coverage: V8 would record the bundle, and its statements mapped back to lib/ do not line up with the sources'.
  const child = spawn('env', ['-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE', process.execPath, ...flags], { cwd: new URL('../..', import.meta.url), stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout!.setEncoding('utf8').on('data', chunk => { out += chunk })
  const exit = once(child, 'close')
  while (!out.includes('listening')) await once(child.stdout!, 'data')
  child.kill('SIGTERM')
  const [code, signal] = await exit
  t.same({ code, signal }, { code: 0, signal: null })
  t.match(out, 'hook ran')
})

t.test('a Worker that cannot start (the permission model): the shutdown goes on with the main thread\'s timer', async t => {
  const { startWatchdog } = await import('../../lib/watchdog.ts')
  const restricted = (): typeof import('node:worker_threads') => ({
    SHARE_ENV: Symbol('env') as never,
    Worker: class { constructor () { throw new Error('Access to this API has been restricted') } }
  }) as unknown as typeof import('node:worker_threads')
  t.doesNotThrow(() => startWatchdog(1000, () => t.fail('never online'), restricted))
})

t.test('a shutdown that ends in time leaves no watchdog behind: exit 0 at once, nothing on stderr', async t => {
  const child = await start('app.ts', { options: { timeout: 2000 } }, t)
  const sent = Date.now()
  child.process.kill('SIGTERM')
  const { code, signal, at } = await child.exited(10_000)
  t.same({ code, signal }, { code: 0, signal: null })
  t.ok(at - sent < 1500, `exited ${at - sent} ms after the signal`)
  t.notMatch(child.stderr(), /fastify-graceful:/)
})
