// Where the deadline's guarantee ends: a main thread already blocked in write(2) when the signal comes (a synchronous
// log destination on a full pipe nobody reads) never runs the signal's handler, so no shutdown and no watchdog start.
// Node gives JavaScript no way around it (libuv's handlers restart the write, SA_RESTART): the orchestrator's SIGKILL
// ends it, and an asynchronous destination keeps the main thread out of the write (docs/deploying.md).
import t, { type Test } from 'tap'
import { spawn, execFileSync, type StdioOptions } from 'node:child_process'
import { once } from 'node:events'
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fixture, nodeArgs, nodeEnv } from '../helpers/child.ts'
import { request } from '../helpers/http.ts'
import { EXITING_MS, GUARD_AFTER_MS } from '../../lib/watchdog.ts'

/** The system call the process's main thread is in now (x86-64 and arm64 numbers of write), or 'running'. */
function inWrite (pid: number): boolean {
  try {
    const [number] = readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ')
    return number === (process.arch === 'arm64' ? '64' : '1')
  } catch {
    return false
  }
}

/**
 * The app logs to fd 3, a FIFO nobody reads, filled to the brim once it listens; then a request makes it log a line
 * before the signal comes. Resolves with how the process ended `waitMs` after the SIGTERM (null: still running).
 */
async function blockedThenSignalled (t: Test, destination: 'sync' | 'async', waitMs: number, fd: 1 | 3 = 3): Promise<{ code: number | null, signal: NodeJS.Signals | null, ms: number } | null> {
  const dir = mkdtempSync(join(tmpdir(), 'graceful-fifo-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const fifo = join(dir, 'log')
  execFileSync('mkfifo', [fifo])
  const log = openSync(fifo, constants.O_RDWR)
  const stdio: StdioOptions = fd === 1 ? ['ignore', log, 'pipe'] : ['ignore', 'ignore', 'pipe', log]
  const child = spawn(process.execPath, [...nodeArgs(), fixture('blocked-stdout.ts'), String(fd), destination], { stdio, env: nodeEnv() })
  closeSync(log)
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', chunk => { stderr += chunk })
  const exit = once(child, 'exit')
  while (!stderr.includes('"listening"')) await once(child.stderr!, 'data')
  const port = (JSON.parse(stderr.split('\n').find(line => line.includes('"listening"'))!) as { listening: number[] }).listening[0]!
  const filler = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)
  try {
    for (;;) writeSync(filler, Buffer.alloc(4096, 'x'))
  } catch (error) {
    t.equal((error as NodeJS.ErrnoException).code, 'EAGAIN', 'the pipe is full')
  }
  closeSync(filler)
  // Its 'incoming request' line now blocks the main thread in write(2) (sync), or waits in memory (async).
  request(port, '/', { timeout: 60_000 }).catch(() => {})
  if (destination === 'sync') {
    for (let i = 0; i < 500 && !inWrite(child.pid!); i++) await sleep(10)
    t.ok(inWrite(child.pid!), 'the main thread is blocked in write(2) before the signal')
  }
  const sent = Date.now()
  child.kill('SIGTERM')
  const ended = await Promise.race([exit, sleep(waitMs).then(() => null)])
  if (ended === null) return null
  const [code, signal] = ended as [number | null, NodeJS.Signals | null]
  return { code, signal, ms: Date.now() - sent }
}

t.test('blocked in write(2) before the signal (sync destination, full pipe): the plugin cannot end it, SIGKILL must', async t => {
  // timeout 2000 in the fixture: well past the deadline and the watchdog's kill, the process is still there.
  const ended = await blockedThenSignalled(t, 'sync', 2000 + 2000)
  t.equal(ended, null, 'still running 2 s past the deadline: nothing of the plugin ran')
})

t.test('an asynchronous destination on a full stdout: the signal is handled, the process ends at the deadline', async t => {
  // The shutdown runs and the watchdog asks for exit 1 at the deadline. When a log line's write is stuck in the thread
  // pool (the pipe is full), Node's exit stops the watchdog and then waits for that write for ever: the guard process
  // kills it (before it, 1 run in 3 on Node 24 and 26 never ended).
  const ended = await blockedThenSignalled(t, 'async', 10_000, 1)
  t.not(ended, null, 'exited')
  t.ok(ended?.code === 1 || ended?.signal === 'SIGKILL', `exit 1, or SIGKILL from the guard (${ended?.code}, ${ended?.signal})`)
  const bound = ended?.signal === 'SIGKILL' ? GUARD_AFTER_MS : 0
  t.ok(ended!.ms < 2000 + bound + 1500, `at the deadline (${ended!.ms} ms after SIGTERM)`)
})

t.test('an asynchronous destination on a full blocking pipe: SIGKILL after the exit\'s grace', async t => {
  // pino's last flushSync() in the exit handlers blocks in write(2): the watchdog kills the process.
  const ended = await blockedThenSignalled(t, 'async', 10_000, 3)
  t.not(ended, null, 'exited')
  t.same({ code: ended?.code, signal: ended?.signal }, { code: null, signal: 'SIGKILL' })
  t.ok(ended!.ms < 2000 + EXITING_MS + 1500, `at the deadline and the exit's grace (${ended!.ms} ms after SIGTERM)`)
})
