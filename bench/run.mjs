// npm run bench [-- --quick] [-- --out dir] [-- --only lockstep,overhead,shutdown,memory,timeline,scale]
// Runs every measure, prints one table per measure, writes results.json and timeline.svg
// (into bench/, or .cache/bench-quick/ for a quick run, unless --out says where).
// BENCH_QUICK=1 is the same as --quick: tiny counts, every measure, well under a minute.
import os from 'node:os'
import { writeFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execFileSync } from 'node:child_process'
import { pin } from './lib/proc.mjs'
import { runOverhead } from './overhead.mjs'
import { runShutdown } from './shutdown.mjs'
import { runMemory } from './memory.mjs'
import { runTimeline } from './timeline.mjs'
import { runScale } from './scale.mjs'
import { runLockstep, lockstepReport, LOCKSTEP_PROCESSES } from './lockstep.mjs'
import { SHUTDOWN_VARIANTS } from './app.mjs'
import { fmt, fmtSpread, table } from './lib/stats.mjs'

const args = process.argv.slice(2)
const quick = args.includes('--quick') || process.env.BENCH_QUICK === '1'
const outAt = args.indexOf('--out')
// A quick run must not replace the committed timeline.svg with a picture of tiny counts.
const out = outAt >= 0
  ? args[outAt + 1]
  : fileURLToPath(new URL(quick ? '../.cache/bench-quick/' : '.', import.meta.url))
const onlyAt = args.indexOf('--only')
const only = onlyAt >= 0 ? args[onlyAt + 1].split(',') : ['lockstep', 'overhead', 'shutdown', 'memory', 'timeline', 'scale']

const CONFIG = quick
  ? {
      lockstep: { rounds: 2, requests: 500, warmup: 500, workers: 4, processes: { plain: 1, 'bare-hook': 1, graceful: 2 } },
      overhead: { rounds: 2, amount: 1000, warmup: 1000, connections: 10, pipelining: 1 },
      shutdown: { runs: { idle: 1, trap: 1, hung: 1, load: 1 }, idleFor: 300, deadline: 1000, cap: 2000, left: 400, workers: 64, warm: 300, workMs: 10 },
      memory: { requests: 6000, checkpoints: 3, connections: 64, churn: 200, warmup: 1000 },
      timeline: { workers: 64, warm: 400, lbDelay: 200, deadline: 1000, cap: 2000 },
      scale: { sizes: [50, 200], runs: 1, deadline: 1000, cap: 1500, releaseAfter: 200 }
    }
  : {
      lockstep: { rounds: 3, requests: 20000, warmup: 10000, workers: 4, processes: LOCKSTEP_PROCESSES },
      overhead: { rounds: 30, amount: 15000, warmup: 20000, connections: 10, pipelining: 1 },
      shutdown: { runs: { idle: 7, trap: 3, hung: 3, load: 5 }, idleFor: 1000, deadline: 10000, cap: 12000, left: 400, workers: 64, warm: 1000, workMs: 10 },
      memory: { requests: Number(process.env.BENCH_MEMORY_REQUESTS) || 1000000, checkpoints: 10, connections: 64, churn: 10000, warmup: 20000 },
      timeline: { workers: 64, warm: 1000, lbDelay: 200, deadline: 10000, cap: 12000 },
      // 19,500, not 20,000: one process may hold about 20,000 files here, and the server needs a few of its own.
      scale: { sizes: [1000, 10000, 19500], runs: 1, deadline: 3000, cap: 6000, releaseAfter: 200 }
    }

const log = (line) => console.log(line)
const started = Date.now()
// The load generator and the clock live here, on the other core than the servers.
const pinned = pin(process.pid, 1)
const meta = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  platform: `${os.type()} ${os.release()}`,
  loadAverageAtStart: os.loadavg().map((l) => Number(l.toFixed(2))),
  pinned: pinned ? 'servers on core 0, load generator on core 1 (taskset)' : 'not pinned (taskset unavailable)',
  quick,
  commit: gitCommit()
}
const machine = `${meta.cpu}, ${meta.cores} cores, Node ${meta.node}, ${meta.date.slice(0, 10)}${meta.commit ? `, commit ${meta.commit}` : ''}`
log(`# fastify-graceful benchmarks${quick ? ' (quick mode: tiny counts, figures are not meaningful)' : ''}\n${machine}; ${meta.pinned}\n`)

const results = { meta }

async function step (name, fn) {
  if (!only.includes(name)) return
  const t0 = Date.now()
  log(`## ${name}`)
  try {
    results[name] = await fn()
  } catch (err) {
    results[name] = { error: err.stack ?? String(err) }
    log(`  FAILED: ${err.message}`)
  }
  log(`  (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`)
}

await step('lockstep', () => runLockstep({ ...CONFIG.lockstep, log }))
await step('overhead', () => runOverhead({ ...CONFIG.overhead, log }))
await step('shutdown', () => runShutdown({ ...CONFIG.shutdown, variants: SHUTDOWN_VARIANTS, log }))
await step('memory', () => runMemory({ ...CONFIG.memory, log }))
await step('timeline', () => runTimeline({ ...CONFIG.timeline, out, machine, log }))
await step('scale', () => runScale({ ...CONFIG.scale, log }))

results.meta.durationSeconds = Math.round((Date.now() - started) / 1000)
results.targets = verdicts(results)

log(report(results))
await mkdir(out, { recursive: true })
await writeFile(join(out, 'results.json'), JSON.stringify(results, null, 2) + '\n')
log(`\nwrote ${join(out, 'results.json')}${results.timeline?.file ? ` and ${results.timeline.file}` : ''} in ${results.meta.durationSeconds} s`)

function msCell (entry) {
  if (!entry || entry.error) return `error: ${entry?.error?.split('\n')[0] ?? 'not run'}`
  if (entry.medianCapped) return `> ${CONFIG.shutdown.cap} ms (cap)`
  const spread = fmtSpread(entry.ms, 0, '')
  return `${spread}${entry.cappedRuns ? ` (${entry.cappedRuns}× > cap)` : ''}`
}

function tallyCell (tally) {
  return tally ? Object.entries(tally).map(([k, n]) => (n > 1 ? `${k} ×${n}` : k)).join(', ') : ''
}

export function report (r) {
  const parts = []
  if (r.lockstep?.variants) parts.push(lockstepReport(r.lockstep))
  else if (r.lockstep?.error) parts.push(`### Lockstep: failed: ${r.lockstep.error.split('\n')[0]}`)
  if (r.overhead?.variants) {
    const o = r.overhead
    parts.push(`### 1. Overhead per request (hello world, ${o.config.rounds} alternating rounds × ${o.config.amount} requests, ${o.config.connections} connections)\n` +
      'median (p25–p75) over rounds; ratios are to plain Fastify in the same round\n\n' +
      table(['variant', 'throughput ratio', 'CPU / request ratio', 'req/s', 'server CPU µs / request', 'server CPU share'],
        Object.entries(o.variants).map(([v, x]) => x.error
          ? [v, `error: ${x.error.split('\n')[0]}`, '', '', '', '']
          : [v, fmtSpread(x.throughputRatio), fmtSpread(x.cpuPerRequestRatio), fmtSpread(x.rps, 0), fmtSpread(x.cpuUsPerRequest, 1), fmtSpread(x.serverCpuShare, 2)])))
  } else if (r.overhead?.error) parts.push(`### 1. Overhead: failed: ${r.overhead.error.split('\n')[0]}`)

  if (r.shutdown?.cases) {
    const s = r.shutdown
    const titles = {
      idle: `2a. SIGTERM → exit, idle keep-alive sockets only (8 sockets, quiet for ${s.config.idleFor} ms)`,
      trap: `2b. SIGTERM → exit, one keep-alive request in flight with ${s.config.left} ms left (the keep-alive trap)`,
      hung: `2c. SIGTERM → exit, one request that never answers (every deadline ${s.config.deadline} ms)`,
      load: `2d. SIGTERM → exit under load (${s.config.workers} keep-alive workers)`
    }
    for (const [name, byVariant] of Object.entries(s.cases)) {
      parts.push(`### ${titles[name]}\nms from SIGTERM to the process's exit, median (p25–p75) over ${s.config.runs[name]} run(s); cap ${s.config.cap} ms\n\n` +
        table(['variant', 'ms', 'ratio to plain', ...(name === 'trap' ? ['ms left at the signal', 'exit − response due, ms'] : []), 'exit', ...(name === 'trap' || name === 'hung' ? ['client got'] : [])],
          Object.entries(byVariant).map(([v, e]) => [v, msCell(e), fmt(e.ratioToPlain, 2),
            ...(name === 'trap' ? [fmtSpread(e.leftAtSignal, 0), e.afterDue && e.afterDue.median !== Infinity ? fmtSpread(e.afterDue, 0) : 'n/a'] : []),
            tallyCell(e.exits), ...(name === 'trap' || name === 'hung' ? [tallyCell(e.clients)] : [])])))
    }
    parts.push(`### 3. Requests across the signal under keep-alive load (${s.config.workers} workers, GET + POST, ${s.config.runs.load} run(s))\n` +
      'requests that ended after SIGTERM, summed over the runs; "died" = sent and never answered\n\n' +
      table(['variant', 'answered', 'refused 503', 'died on a reused socket (GET/POST)', 'died per run, median (min–max)', 'died on a new socket', 'connect refused (listener closed)'],
        Object.entries(s.cases.load).map(([v, e]) => e.totals
          ? [v, e.totals.answered, e.totals.refused, `**${e.totals['died-reused']}** (${e.diedByMethod.GET}/${e.diedByMethod.POST})`, `${fmt(e.diedReused.median, 1)} (${e.diedReused.min}–${e.diedReused.max})`, e.totals['died-new'], e.totals.connrefused]
          : [v, `error: ${e.error?.split('\n')[0]}`, '', '', '', '', ''])))
  } else if (r.shutdown?.error) parts.push(`### 2–3. Shutdown: failed: ${r.shutdown.error.split('\n')[0]}`)

  if (r.memory?.variants) {
    const m = r.memory
    const kib = (b) => (b === null || b === undefined ? 'n/a' : `${(b / 1024).toFixed(1)} KiB`)
    const mib = (b) => `${(b / 1048576).toFixed(2)} MiB`
    parts.push(`### 4. Memory after ${m.config.requests} requests then ${m.config.churn} new connections (heap after forced GC, in the server)\n\n` +
      table(['variant', 'heap at first checkpoint', 'heap after all requests', 'heap growth over the requests', 'slope per 100k requests', 'growth over the connections', 'RSS growth', 'heap / plain'],
        Object.entries(m.variants).map(([v, x]) => x.error
          ? [v, `error: ${x.error.split('\n')[0]}`, '', '', '', '', '', '']
          : [v, mib(x.samples[1].heapUsed), mib(x.samples[x.samples.length - 2].heapUsed), kib(x.heapGrowth), kib(x.heapBytesPer100kRequests), `${kib(x.heapGrowthAfterChurn)} (${fmt(x.heapBytesPerConnection, 1)} B/conn)`, kib(x.rssGrowth), fmt(x.heapRatioToPlain, 3)])))
  }

  if (r.timeline?.variants) {
    parts.push('### Timeline (bench/timeline.svg)\n\n' +
      table(['variant', 'answered', 'refused 503', 'failed', 'first 503 ms', 'app.close() ms', 'exit'],
        Object.entries(r.timeline.variants).map(([v, x]) => x.error
          ? [v, `error: ${x.error.split('\n')[0]}`, '', '', '', '', '']
          : [v, x.counts.answered, x.counts.refused, x.counts.failed, fmt(x.phases.admissionClosed, 0), fmt(x.phases.close, 0), `${x.exit.code} at ${fmt(x.exit.ms, 0)} ms`])))
  }

  if (r.scale?.sizes) {
    const c = r.scale.config
    const ms = (e) => (!e ? 'n/a' : e.ms ? `${fmtSpread(e.ms, 0)} (own ${fmt(e.ownMs?.median, 0)})` + (e.cappedRuns ? ` (${e.cappedRuns}× > cap)` : '') : e.cappedRuns ? `> ${c.cap} (cap)` : `error: ${e.runs?.[0]?.error?.split('\n')[0]}`)
    const exits = (e) => tallyCell(Object.fromEntries(Object.entries((e?.runs ?? []).reduce((t, run) => ({ ...t, [run.exit ?? 'error']: (t[run.exit ?? 'error'] ?? 0) + 1 }), {}))))
    const clients = (e) => tallyCell(e?.runs?.[e.runs.length - 1]?.clients)
    parts.push(`### 5. At scale: N connections on one process (timeout ${c.deadline} ms; in flight: answered ${c.releaseAfter} ms after SIGTERM)\n` +
      `heap per idle connection after a forced GC, and ms from SIGTERM to the exit as the harness saw it (own: the server's last moment, on the same clock; the harness, busy with N sockets, learns of the exit later); ${c.runs} run(s) per cell, cap ${c.cap} ms\n\n` +
      table(['N', 'variant', 'heap B / idle connection', 'idle: ms', 'in flight: ms', 'in flight: exit, clients', 'hung: ms', 'hung: exit, clients'],
        Object.entries(r.scale.sizes).flatMap(([n, byVariant]) => Object.entries(byVariant).map(([v, x]) => [n, v,
          x.idle.heapPerConnection ? fmt(x.idle.heapPerConnection.median, 0) : 'n/a', ms(x.idle), ms(x.inflight), `${exits(x.inflight)}; ${clients(x.inflight)}`, ms(x.hung), `${exits(x.hung)}; ${clients(x.hung)}`]))))
  }

  if (r.targets) {
    parts.push('### Targets (ours)\n\n' + table(['measure', 'target', 'ours', 'met'], r.targets.map((t) => [t.measure, t.target, t.value, t.met === null ? 'n/a' : t.met ? 'yes' : '**no**'])))
  }
  return parts.join('\n\n')
}

function verdicts (r) {
  const rows = []
  const add = (measure, target, value, met) => rows.push({ measure, target, value, met })
  const l = r.lockstep?.variants?.graceful
  if (l) {
    const hook = r.lockstep.variants['bare-hook']?.ratio
    add('lockstep: CPU per request to plain, median over processes', '<= 1.01', `${fmt(l.ratio.median)} (one-boolean hook ${fmt(hook?.median)})`, l.ratio.median <= 1.01)
    add('lockstep: the slowest process', '<= 1.03', `${fmt(l.ratio.max)} (one-boolean hook ${fmt(hook?.max)})`, l.ratio.max <= 1.03)
  } else if (only.includes('lockstep')) add('lockstep', 'runs', r.lockstep?.error ?? 'not run', false)
  const o = r.overhead?.variants?.ours
  if (o && !o.error) {
    add('throughput ratio to plain', '>= 0.98', fmtSpread(o.throughputRatio), o.throughputRatio.median >= 0.98)
    add('CPU per request ratio to plain', '<= 1.03', fmtSpread(o.cpuPerRequestRatio), o.cpuPerRequestRatio.median <= 1.03)
  } else if (only.includes('overhead')) add('overhead', 'runs', o?.error ?? 'not run', false)
  const c = r.shutdown?.cases
  if (c) {
    const ours = (name) => c[name]?.ours
    const med = (e) => (e && !e.error && !e.medianCapped ? e.ms.median : null)
    const idle = ours('idle')
    add('SIGTERM → exit, idle', '<= 30 ms', msCell(idle), med(idle) !== null && med(idle) <= 30)
    const trap = ours('trap')
    const left = r.shutdown.config.left
    const overrun = trap?.afterDue && Number.isFinite(trap.afterDue.median) ? trap.afterDue.median : null
    add('SIGTERM → exit, keep-alive trap', `<= ${left} + 30 ms: exit <= 30 ms after the response was due`,
      trap?.error ? msCell(trap) : `${msCell(trap)} (${fmtSpread(trap?.leftAtSignal, 0)} ms left at the signal; exit ${fmt(overrun, 0)} ms after the response was due)`,
      med(trap) !== null && med(trap) <= left + 30 && overrun !== null && overrun <= 30)
    const hung = ours('hung')
    const deadline = r.shutdown.config.deadline
    // The drain is cut before the time kept for the other plugins' onClose hooks and the summary (lib/sequence.ts).
    const kept = Math.min(1000, deadline * 0.1)
    add('SIGTERM → exit, hung request', `the deadline (${deadline} ms) less the close's ${kept}, exit 1, client 503`,
      hung?.error ? msCell(hung) : `${msCell(hung)}, exit ${tallyCell(hung?.exits)}, client ${tallyCell(hung?.clients)}`,
      Boolean(med(hung) !== null && med(hung) <= deadline + 100 && med(hung) >= deadline - kept - 200 &&
        Object.keys(hung.exits).every((e) => e === '1') && Object.keys(hung.clients).every((k) => k.startsWith('503'))))
    const load = ours('load')
    add('requests died on a reused socket', '0', load?.totals ? String(load.totals['died-reused']) : msCell(load), Boolean(load?.totals && load.totals['died-reused'] === 0))
  }
  const m = r.memory?.variants
  if (m?.ours && !m.ours.error && m.plain && !m.plain.error) {
    // Flat: the slope is within what plain Fastify shows plus 64 KiB per 100k requests of noise.
    const flat = m.ours.heapBytesPer100kRequests <= Math.max(m.plain.heapBytesPer100kRequests, 0) + 65536 &&
      m.ours.heapBytesPerConnection <= Math.max(m.plain.heapBytesPerConnection, 0) + 64
    add('heap growth with requests / connections', 'no growth beyond plain\'s',
      `${(m.ours.heapBytesPer100kRequests / 1024).toFixed(1)} KiB per 100k req (plain ${(m.plain.heapBytesPer100kRequests / 1024).toFixed(1)}), ${fmt(m.ours.heapBytesPerConnection, 1)} B/conn (plain ${fmt(m.plain.heapBytesPerConnection, 1)})`, flat)
  }
  const scale = r.scale?.sizes
  if (scale) {
    const { deadline } = r.scale.config
    for (const [n, byVariant] of Object.entries(scale)) {
      const ours = byVariant.ours
      const plain = byVariant.plain
      const heap = ours?.idle?.heapPerConnection?.median
      const plainHeap = plain?.idle?.heapPerConnection?.median
      if (heap !== undefined && plainHeap !== undefined) add(`scale N=${n}: heap per idle connection`, '<= plain + 100 B', `${fmt(heap, 0)} B (plain ${fmt(plainHeap, 0)} B)`, heap <= plainHeap + 100)
      // The server's own last moment: the harness, busy closing N sockets of its own, learns of the exit later.
      const hung = ours?.hung?.ownMs?.max
      add(`scale N=${n}: SIGTERM → the server's last moment, hung requests`, `<= timeout (${deadline} ms) + 100`,
        hung === undefined ? 'past the cap' : `${fmt(hung, 0)} ms (the harness saw ${fmt(ours.hung.ms?.max, 0)})`, hung !== undefined && hung <= deadline + 100)
    }
  } else if (only.includes('scale')) add('scale', 'runs', r.scale?.error ?? 'not run', false)
  return rows
}

function gitCommit () {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return null
  }
}
