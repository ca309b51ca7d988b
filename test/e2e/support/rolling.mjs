// Rolling restart through HAProxy: two app instances, load through HAProxy, restart the instances
// one after the other (SIGTERM the old, start a new one on the same port once the old has exited,
// wait until HAProxy reports it UP), count what the client sees.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort, start, waitExit, killAll, until, isRunning } from './procs.mjs'
import { CHECK, startHaproxy } from './haproxy.mjs'
import { startLoad } from './load.mjs'

/**
 * @param {object} opts
 * @param {string} opts.name        label for the report
 * @param {string} opts.app         path of the app to run (one per instance)
 * @param {Record<string,string>} [opts.env]  extra environment for the app
 * @param {number} [opts.restarts]  total restarts (alternating between the two instances)
 * @param {number} [opts.exitTimeoutMs] SIGKILL an old instance still alive after this long (the grace period)
 * @param {number} [opts.settleMs]  pause after an instance is UP before the next restart
 * @param {boolean} [opts.keep]     keep the temp dir (logs, haproxy.cfg)
 */
export async function runRollingRestart (opts) {
  const { name, app, env = {}, restarts = 10, exitTimeoutMs = 15_000, settleMs = 500, keep = false } = opts
  const dir = mkdtempSync(join(tmpdir(), `fg-e2e-${name}-`))
  const t0 = Date.now()
  const events = []
  const note = (what) => events.push({ at: Date.now() - t0, what })
  const instances = [{ name: 'a' }, { name: 'b' }]
  const procs = []
  let haproxy, load
  const restartTimes = []
  let forcedKills = 0
  const exitCodes = []
  let generation = 0

  const launch = (inst) => {
    const proc = start(process.execPath, [app], {
      env: { LOG_LEVEL: 'warn', ...env, PORT: String(inst.port), HOST: '127.0.0.1' },
      log: join(dir, `${inst.name}-${generation++}.log`)
    })
    procs.push(proc)
    inst.proc = proc
    note(`${inst.name} started pid ${proc.pid}`)
    return proc
  }
  // UP with its last check passed: HAProxy has seen this instance healthy (an old UP state can
  // outlive a process that exited faster than fall x inter).
  const upInHaproxy = async (inst) => {
    const { status, check } = (await haproxy.stats())[inst.name]
    return status === 'UP' && check === 'L7OK'
  }
  const ready = async (inst) => {
    try {
      const res = await fetch(`http://127.0.0.1:${inst.port}/health/ready`)
      await res.arrayBuffer()
      return res.status === 200
    } catch {
      return false
    }
  }
  // A new instance counts as back once it answers its readiness route and HAProxy then checked it.
  const back = async (inst) => {
    await until(async () => (await ready(inst)) || !isRunning(inst.proc), { ms: 15_000, what: `${inst.name} ready` })
    if (!isRunning(inst.proc)) throw new Error(`${inst.name} died at start, see ${dir}`)
    const since = Date.now()
    await until(async () => Date.now() - since > CHECK.inter && await upInHaproxy(inst), { ms: 15_000, what: `${inst.name} UP in HAProxy` })
  }

  try {
    for (const inst of instances) inst.port = await freePort()
    for (const inst of instances) launch(inst)
    haproxy = await startHaproxy({ dir, port: await freePort(), servers: instances })
    procs.push(haproxy.proc)
    for (const inst of instances) await back(inst)
    note('both UP, load starts')
    load = startLoad({ origin: `http://127.0.0.1:${haproxy.port}`, t0 })
    await sleep(1000)

    for (let i = 0; i < restarts; i++) {
      const inst = instances[i % 2]
      const old = inst.proc
      const began = Date.now()
      note(`SIGTERM ${inst.name} pid ${old.pid}`)
      old.child.kill('SIGTERM')
      let exit = await waitExit(old, exitTimeoutMs)
      if (!exit) {
        forcedKills++
        note(`${inst.name} pid ${old.pid} still alive after ${exitTimeoutMs} ms: SIGKILL`)
        old.child.kill('SIGKILL')
        exit = await waitExit(old, 5000)
      }
      note(`${inst.name} pid ${old.pid} exited ${JSON.stringify(exit)}`)
      exitCodes.push(exit?.code ?? exit?.signal ?? 'unknown')
      launch(inst)
      await back(inst)
      note(`${inst.name} UP`)
      restartTimes.push(Date.now() - began)
      await sleep(settleMs)
    }
    await sleep(1000)
    const result = await load.stop()
    load = null
    note('load stopped')
    const abnormal = haproxy.log.filter((line) => / fe (app|fe)\//.test(line))
    writeFileSync(join(dir, 'haproxy.log'), haproxy.log.join('\n') + '\n')
    writeFileSync(join(dir, 'events.json'), JSON.stringify({ events, failures: result.failures }, null, 1))
    return {
      name,
      ...result,
      restarts,
      forcedKills,
      exitCodes,
      restartMs: { min: Math.min(...restartTimes), max: Math.max(...restartTimes) },
      durationMs: Date.now() - t0,
      haproxyLog: haproxy.log,
      abnormal: abnormal.length,
      events,
      dir
    }
  } finally {
    if (load) await load.stop().catch(() => {})
    await killAll(procs)
    if (!keep) rmSync(dir, { recursive: true, force: true })
  }
}
