import { performance } from 'node:perf_hooks'
import { createRequire } from 'node:module'
import type { Worker } from 'node:worker_threads'

/** How long the main thread gets to begin its exit once asked, before the watchdog kills the process. */
export const KILL_AFTER_MS = 50
/** How long the exit itself may take once begun (exit handlers, a log transport's last flush) before the kill. */
export const EXITING_MS = 1000
/**
 * From the deadline, when the guard process kills this one if it still runs: after the watchdog's own kill would have
 * come (KILL_AFTER_MS + EXITING_MS), for the case where Node's exit stopped the watchdog and then hung.
 */
export const GUARD_AFTER_MS = KILL_AFTER_MS + EXITING_MS + 250

/**
 * The watchdog's own thread: a plain script, so the build has nothing to bundle and the app's preloads do not load.
 * At the deadline it asks the main thread for process.exit(1) through the inspector, which V8 runs even in the middle
 * of a busy loop (an interrupt); a thread stuck in a system call (a write to a full, blocking pipe) never takes it,
 * so the process is killed with SIGKILL shortly after. Writes go to fd 2 without waiting: stderr may be full too.
 */
const SCRIPT = `'use strict'
const { workerData: { at, timeout, exiting, killAfter, exitingMs, guardAfter } } = require('node:worker_threads')
const { write } = require('node:fs')
// The line is written by the thread pool; a full stderr must not hold what comes next for more than a moment, and a
// busy machine's thread pool must not lose the line before a SIGKILL: 25 ms.
const say = (line, then) => {
  let done = false
  const next = () => { if (!done) { done = true; then() } }
  write(2, 'fastify-graceful: ' + line + '\\n', next)
  setTimeout(next, 25)
}
const kill = () => process.kill(process.pid, 'SIGKILL')
// Node's exit stops this thread, then waits for its thread pool, where a write to a full pipe (an async log line) can
// be stuck for ever: a process of its own ends this one if it still runs a moment after this thread's own kill would
// have. It reads its parent's pid anew each time, so it never hits a recycled pid, and ends once its parent is gone.
const guard = () => {
  const pid = process.pid
  const code = 'const end = Date.now() + ' + guardAfter + '; setInterval(() => {' +
    ' if (process.ppid !== ' + pid + ') process.exit();' +
    ' if (Date.now() >= end) { try { process.kill(' + pid + ', "SIGKILL") } catch {} process.exit() } }, 10)'
  try {
    require('node:child_process').spawn(process.execPath, ['-e', code], { stdio: 'ignore', env: {} }).unref()
  } catch {}
}
setTimeout(() => {
  guard()
  say('the graceful shutdown was still running at its deadline (timeout ' + timeout +
    ' ms): exiting with code 1', () => {
    try {
      const session = new (require('node:inspector').Session)()
      session.connectToMainThread()
      session.post('Runtime.evaluate', { expression: 'process.exit(1)' })
    } catch {}
  })
  setTimeout(() => {
    if (Atomics.load(exiting, 0) === 1) return setTimeout(() => say('the exit handlers still ran ' + exitingMs +
      ' ms later: killing the process with SIGKILL', kill), exitingMs)
    say('the main thread did not exit within ' + killAfter + ' ms (blocked in a system call, ' +
      'a write to a full pipe say): killing the process with SIGKILL', kill)
  }, killAfter)
}, Math.max(0, at - (performance.timeOrigin + performance.now())))
`

/**
 * node:worker_threads, loaded when a shutdown starts: loaded at startup, it changes how V8 sizes the young generation
 * of a process that serves requests, for about 8 % more CPU per request (bench/README.md, lockstep).
 */
export function loadWorkerThreads (): typeof import('node:worker_threads') {
  return createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads')
}

/**
 * Ends the process `timeout` ms after `began` (a performance.now() time) even if the main thread is blocked, from a
 * thread started for this shutdown only. `online` is told once the thread runs: from then on it alone keeps the
 * deadline.
 */
export function startWatchdog (
  timeout: number, online: () => void, load = loadWorkerThreads, began = performance.now()
): void {
  const at = performance.timeOrigin + began + timeout
  // Set by the main thread as its exit begins, so the watchdog leaves the exit handlers their time.
  const exiting = new Int32Array(new SharedArrayBuffer(4))
  const workerData = {
    at, timeout, exiting, killAfter: KILL_AFTER_MS, exitingMs: EXITING_MS, guardAfter: GUARD_AFTER_MS
  }
  let worker: Worker
  try {
    const threads = load()
    // No execArgv: the app's loaders and preloads (a tracer, a TypeScript hook) would slow the start for nothing.
    worker = new threads.Worker(SCRIPT, { eval: true, workerData, execArgv: [], env: threads.SHARE_ENV })
  } catch {
    // Node's permission model without --allow-worker: the main thread's own timer is all there is.
    return
  }
  worker.unref()
  worker.once('online', online)
  // Kept to the exit, which ends the thread (an unref'd thread holds nothing): the exit handlers are watched too.
  process.prependListener('exit', () => { Atomics.store(exiting, 0, 1) })
}
