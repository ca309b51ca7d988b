// Instructions per request, counted by valgrind (callgrind) in each server process: a count, not a time, so
// the machine's noise does not enter it. Each server runs under callgrind, warms up on one keep-alive
// connection, then serves `windows` windows of `requests` requests; callgrind's counters are zeroed before
// and dumped after each window. Per process: instructions per request (median of its windows), and how
// many of them ran inside V8's runtime (C++ entered from JavaScript through a CEntry stub), which is where
// a process in the slow mode spends its extra instructions (see bench/README.md).
//
//   node bench/instructions.mjs [--processes plain:4,bare-hook:2,graceful:4] [--warmup 12000] [--requests 5000]
//                               [--windows 3] [--parallel 2] [--keep dir]
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { connect, parseProcesses } from './lockstep.mjs'
import { processNames, startNamed } from './lib/proc.mjs'
import { summarize, fmt, table } from './lib/stats.mjs'

export const INSTRUCTION_PROCESSES = { plain: 4, 'bare-hook': 2, graceful: 4 }

/** Whether valgrind and callgrind_control are installed. */
export function callgrindAvailable () {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' })
    execFileSync('callgrind_control', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

// The instructions counted in one dump, in all, and inside V8's runtime (the inclusive cost of the CEntry stubs).
function readDump (file) {
  const total = Number(/^(?:summary|totals): (\d+)/m.exec(readFileSync(file, 'utf8'))[1])
  const annotated = execFileSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', '--auto=no', file], { encoding: 'utf8', maxBuffer: 64 << 20 })
  let runtime = 0
  for (const line of annotated.split('\n')) {
    const m = /^\s*([\d,]+) \([^)]*\)\s+\S*:(Builtins_CEntry_\S+)/.exec(line)
    if (m) runtime += Number(m[1].replaceAll(',', ''))
  }
  return { total, runtime }
}

async function measureOne (name, { warmup, requests, windows, dir }) {
  const variant = name.split('#')[0]
  const server = await startNamed(name, {
    core: null,
    startTimeout: 180000,
    under: ['valgrind', '-q', '--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${join(dir, 'callgrind.%p')}`]
  })
  const conn = await connect(server.port)
  try {
    for (let i = 0; i < warmup; i++) await conn.get()
    const perWindow = []
    for (let w = 1; w <= windows; w++) {
      execFileSync('callgrind_control', ['-z', String(server.pid)], { stdio: 'ignore' })
      for (let i = 0; i < requests; i++) await conn.get()
      execFileSync('callgrind_control', ['-d', String(server.pid)], { stdio: 'ignore' })
      const { total, runtime } = readDump(join(dir, `callgrind.${server.pid}.${w}`))
      perWindow.push({ perRequest: total / requests, runtimePerRequest: runtime / requests })
    }
    return {
      name,
      variant,
      perRequest: summarize(perWindow.map((x) => x.perRequest)).median,
      runtimePerRequest: summarize(perWindow.map((x) => x.runtimePerRequest)).median,
      windows: perWindow
    }
  } finally {
    conn.close()
    await server.kill()
  }
}

/**
 * @param {{ processes?: Record<string, number>, warmup: number, requests: number, windows: number, parallel: number,
 *   keep?: string, log?: (s: string) => void }} opts
 */
export async function runInstructions ({ processes = INSTRUCTION_PROCESSES, warmup, requests, windows, parallel, keep, log = () => {} }) {
  const dir = keep ?? mkdtempSync(join(tmpdir(), 'graceful-callgrind-'))
  // Interleaved, so that every variant has processes early and late in the run.
  const names = processNames(processes)
  const results = []
  try {
    let next = 0
    await Promise.all(Array.from({ length: Math.max(1, parallel) }, async () => {
      while (next < names.length) {
        const name = names[next++]
        const r = await measureOne(name, { warmup, requests, windows, dir })
        results.push(r)
        log(`  ${name}: ${Math.round(r.perRequest)} instructions per request (windows ${r.windows.map((x) => Math.round(x.perRequest)).join(' ')}), ${Math.round(r.runtimePerRequest)} of them in V8's runtime`)
      }
    }))
  } finally {
    if (keep === undefined) rmSync(dir, { recursive: true, force: true })
  }
  results.sort((a, b) => names.indexOf(a.name) - names.indexOf(b.name))
  // Without plain processes in the run there is nothing to divide by: the ratios are left out (n/a).
  const plain = summarize(results.filter((r) => r.variant === 'plain').map((r) => r.perRequest)).median
  const ratio = (perRequest) => (plain === null ? null : perRequest / plain)
  const variants = {}
  for (const variant of Object.keys(processes)) {
    const mine = results.filter((r) => r.variant === variant)
    variants[variant] = {
      processes: mine.length,
      perRequest: summarize(mine.map((r) => r.perRequest)),
      ratio: summarize(mine.map((r) => ratio(r.perRequest))),
      perProcess: mine.map((r) => ({ perRequest: r.perRequest, ratio: ratio(r.perRequest), runtime: r.runtimePerRequest }))
    }
  }
  return { config: { processes, warmup, requests, windows }, plainPerRequest: plain, byProcess: results, variants }
}

export function instructionsReport (r) {
  const c = r.config
  return `### Instructions per request under callgrind (${Object.entries(c.processes).map(([v, n]) => `${n}× ${v}`).join(', ')}; ` +
    `${c.warmup} warm-up requests, then ${c.windows} windows of ${c.requests})\n` +
    (r.plainPerRequest === null ? 'no plain Fastify process in this run: no ratios; ' : `plain Fastify (median of its processes): ${Math.round(r.plainPerRequest)} instructions per request; ratios to that; `) +
    'per process: instructions per request (ratio, of them inside V8\'s runtime)\n\n' +
    table(['variant', 'processes', 'min', 'median', 'max', 'every process'],
      Object.entries(r.variants).map(([v, x]) => [v, x.processes, fmt(x.ratio.min), fmt(x.ratio.median), fmt(x.ratio.max),
        x.perProcess.map((p) => `${Math.round(p.perRequest)} (${fmt(p.ratio)}, ${Math.round(p.runtime)})`).join(', ')]))
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const value = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback)
  if (!callgrindAvailable()) {
    console.log('skipped: valgrind (with callgrind_control) is not installed; on Debian: apt-get install valgrind')
    process.exit(0)
  }
  const result = await runInstructions({
    processes: value('--processes') ? parseProcesses(value('--processes')) : INSTRUCTION_PROCESSES,
    warmup: Number(value('--warmup', 12000)),
    requests: Number(value('--requests', 5000)),
    windows: Number(value('--windows', 3)),
    parallel: Number(value('--parallel', 2)),
    keep: value('--keep'),
    log: (line) => console.log(line)
  })
  console.log('\n' + instructionsReport(result))
  if (args.includes('--json')) console.log(JSON.stringify(result))
}
