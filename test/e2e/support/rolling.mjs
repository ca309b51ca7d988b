// Rolling restart through a load balancer: two app instances, load through the balancer, restart the
// instances one after the other (SIGTERM the old, start a new one on the same port once the old has
// exited, wait until the balancer sends it traffic again), count what the client sees.
// Balancers: HAProxy in HTTP mode with active checks, nginx (passive only), and a Kubernetes-like L4
// case (HAProxy in TCP mode, no retries, the server put into maintenance `maintAfterMs` after SIGTERM).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import http2 from 'node:http2'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort, start, waitExit, killAll, until, isRunning, readLog } from './procs.mjs'
import { CHECK, startHaproxy } from './haproxy.mjs'
import { startNginx } from './nginx.mjs'
import { startLoad } from './load.mjs'
import { generate } from 'selfsigned'

/**
 * @param {object} opts
 * @param {string} opts.name        label for the report
 * @param {string} opts.app         path of the app to run (one per instance)
 * @param {Record<string,string>} [opts.env]  extra environment for the app
 * @param {number} [opts.restarts]  total restarts (alternating between the two instances)
 * @param {number} [opts.exitTimeoutMs] SIGKILL an old instance still alive after this long (the grace period)
 * @param {number} [opts.settleMs]  pause after an instance is UP before the next restart
 * @param {boolean} [opts.keep]     keep the temp dir (logs, haproxy.cfg)
 * @param {'haproxy'|'nginx'|'k8s'} [opts.balancer]
 * @param {number} [opts.maintAfterMs] k8s: the terminating server still gets new connections this long after SIGTERM
 * @param {number} [opts.connections]  keep-alive clients
 * @param {number} [opts.fresh]  clients that open a connection per request
 * @param {boolean} [opts.retries]  haproxy: retry a refused connect on the other server (false: `retries 0`)
 * @param {'http'|'https'|'h2c'|'h2'} [opts.proto]  what the instances serve, and the balancer speaks to them
 */
export async function runRollingRestart (opts) {
  const { name, app, env = {}, restarts = 10, exitTimeoutMs = 15_000, settleMs = 500, keep = false } = opts
  const { balancer = 'haproxy', maintAfterMs = 1000, connections = 16, fresh = 0, retries = true, proto = 'http' } = opts
  const dir = mkdtempSync(join(tmpdir(), `fg-e2e-${name}-`))
  const tls = proto === 'https' || proto === 'h2' ? await certificate(dir) : {}
  const t0 = Date.now()
  const events = []
  const note = (what) => events.push({ at: Date.now() - t0, what })
  const instances = [{ name: 'a' }, { name: 'b' }]
  const procs = []
  let haproxy, nginx, load
  const restartTimes = []
  let forcedKills = 0
  const exitCodes = []
  // From SIGTERM to the exit, per restart, as the runner sees it; and what the instance logged of its shutdown (the
  // plugin's lines: how long it served on and why, the summary with each phase's time), so a slow exit says where.
  const exitMs = []
  const shutdowns = []
  let generation = 0

  const launch = (inst) => {
    inst.log = join(dir, `${inst.name}-${generation++}.log`)
    const proc = start(process.execPath, [app], {
      env: { LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'info', ...env, ...tls, PROTO: proto, PORT: String(inst.port), HOST: '127.0.0.1' },
      log: inst.log
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
  const ready = (inst) => alive(inst.port, proto)
  // A new instance counts as back once it answers its liveness route and the balancer sends it
  // traffic: HAProxy checked it UP; the L4 case puts it back in rotation (endpoint added when ready);
  // nginx has no checks, it tries the server again once its fail_timeout is over: the restart goes on
  // when the load got an answer from the new instance (with no load yet, when it answers).
  const back = async (inst) => {
    const launched = Date.now()
    await until(async () => (await ready(inst)) || !isRunning(inst.proc), { ms: 15_000, what: `${inst.name} ready` })
    if (!isRunning(inst.proc)) {
      await inst.proc.logged
      const tail = readLog(inst.log).trimEnd().split('\n').slice(-20).join('\n')
      throw new Error(`${inst.name} died at start on port ${inst.port}, see ${dir}; its log ends:\n${tail}`)
    }
    if (balancer === 'haproxy') {
      const since = Date.now()
      await until(async () => Date.now() - since > CHECK.inter && await upInHaproxy(inst), { ms: 15_000, what: `${inst.name} UP in HAProxy` })
    } else if (balancer === 'k8s') {
      await haproxy.admin(`set server app/${inst.name} state ready`)
    } else if (load) {
      await until(() => load.servedSince(`127.0.0.1:${inst.port}`, launched), { ms: 20_000, what: `${inst.name} served through nginx` })
    }
  }
  const front = () => haproxy ?? nginx

  try {
    for (const inst of instances) inst.port = await freePort()
    for (const inst of instances) launch(inst)
    // nginx has no checks: it starts once both instances answer, or its first request marks them failed.
    if (balancer === 'nginx') for (const inst of instances) await back(inst)
    if (balancer === 'nginx') nginx = await startNginx({ dir, port: await freePort(), servers: instances, tls: proto === 'https' })
    else haproxy = await startHaproxy({ dir, port: await freePort(), servers: instances, tcp: balancer === 'k8s', retries, proto })
    procs.push(front().proc)
    for (const inst of instances) await back(inst)
    note('both UP, load starts')
    load = startLoad({ origin: `http://127.0.0.1:${front().port}`, connections, fresh, t0 })
    await sleep(1000)

    for (let i = 0; i < restarts; i++) {
      const inst = instances[i % 2]
      const old = inst.proc
      const began = Date.now()
      note(`SIGTERM ${inst.name} pid ${old.pid}`)
      old.child.kill('SIGTERM')
      // Endpoint removal reaches the L4 balancer late: until then it keeps sending new connections here.
      const maint = balancer === 'k8s'
        ? sleep(maintAfterMs).then(() => haproxy.admin(`set server app/${inst.name} state maint`)).then(() => note(`${inst.name} in maintenance`))
        : null
      let exit = await waitExit(old, exitTimeoutMs)
      if (exit) exitMs.push(Date.now() - began)
      // The lines still coming through the pipe land in the same array: read when the results are made.
      shutdowns.push({ pid: old.pid, ms: Date.now() - began, lines: old.graceful })
      await maint
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
    const balancerLog = front().log
    const abnormal = balancerLog.filter((line) => / fe (app|fe)\//.test(line))
    writeFileSync(join(dir, `${balancer}.log`), balancerLog.join('\n') + '\n')
    writeFileSync(join(dir, 'events.json'), JSON.stringify({ events, failures: result.failures }, null, 1))
    return {
      name,
      ...result,
      restarts,
      forcedKills,
      exitCodes,
      exitMs,
      shutdowns: shutdowns.map(({ pid, ms, lines }) => ({ pid, ms, lines: lines.filter((line) => !line.includes('"event":"start"')) })),
      restartMs: { min: Math.min(...restartTimes), max: Math.max(...restartTimes) },
      durationMs: Date.now() - t0,
      balancer,
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

/** A self-signed certificate for the instances, in files under `dir`: the environment that points the apps at it. */
async function certificate (dir) {
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 86_400_000),
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }]
  })
  writeFileSync(join(dir, 'key.pem'), pems.private)
  writeFileSync(join(dir, 'cert.pem'), pems.cert)
  return { TLS_KEY: join(dir, 'key.pem'), TLS_CERT: join(dir, 'cert.pem') }
}

/**
 * Whether the instance on `port` is up, asked over the protocol it serves, on its liveness route: two polls of
 * readiness a little apart (the first start, before and after nginx starts) would count as a health checker's (README,
 * "When the port closes") and hold the port open behind nginx, which never stops sending, until maxDelay (a CI run
 * under load saw that: one exit of 10.4 s).
 */
function alive (port, proto) {
  return new Promise((resolve) => {
    if (proto === 'h2c') {
      const session = http2.connect(`http://127.0.0.1:${port}`)
      session.on('error', () => resolve(false))
      const req = session.request({ ':path': '/health/live' })
      req.on('response', (headers) => { resolve(headers[':status'] === 200); session.close() })
      req.on('error', () => resolve(false))
      req.resume()
      req.end()
      return
    }
    if (proto === 'http') {
      fetch(`http://127.0.0.1:${port}/health/live`).then(async (res) => {
        await res.arrayBuffer()
        resolve(res.status === 200)
      }, () => resolve(false))
      return
    }
    const req = https.get({ host: '127.0.0.1', port, path: '/health/live', rejectUnauthorized: false, agent: false }, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.on('error', () => resolve(false))
  })
}
