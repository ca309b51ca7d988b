// The bench harness must not rot: its quick mode runs every measure against every variant
// in a child process and leaves well-formed results. The figures themselves are not checked.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { missing } from '../helpers/system.ts'

type Json = Record<string, any>

const RUN = fileURLToPath(new URL('../../bench/run.mjs', import.meta.url))
const INSTRUCTIONS = fileURLToPath(new URL('../../bench/instructions.mjs', import.meta.url))
const SHUTDOWN_VARIANTS = ['plain', 'close-with-grace', 'fastify-graceful-shutdown', 'terminus', 'http-terminator', 'ours']
const LOAD_OUTCOMES = ['answered', 'refused', 'connrefused', 'died-reused', 'died-new', 'other', 'timeout']
const LIMIT_MS = 150_000
// The file holds both runs, one after the other: more than tap's default 120 s per file when the machine is busy.
t.setTimeout(2 * LIMIT_MS + 30_000)

// The bench starts plain Node processes: none of the test runner's loaders or coverage.
function benchEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(NODE_OPTIONS|NODE_V8_COVERAGE|TAP|_TAPJS|TS_NODE)/.test(key)) env[key] = value
  }
  return env
}

const isNumber = (value: unknown): boolean => typeof value === 'number' && Number.isFinite(value)

t.test('npm run bench -- --quick: every measure, every variant, well-formed results', { timeout: LIMIT_MS + 10_000 }, async t => {
  const out = await mkdtemp(join(tmpdir(), 'fastify-graceful-bench-'))
  t.teardown(() => rm(out, { recursive: true, force: true }))

  // tap re-adds its coverage loader to every spawn's env; `env -u` takes it out again, so the
  // bench neither slows under instrumentation nor counts towards lib/'s coverage.
  const child = spawn('env', ['-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE', process.execPath, RUN, '--quick', '--out', out], { env: benchEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', chunk => { output += chunk })
  child.stderr.on('data', chunk => { output += chunk })
  const timer = setTimeout(() => child.kill('SIGKILL'), LIMIT_MS)
  const [code] = await once(child, 'exit')
  clearTimeout(timer)
  t.equal(code, 0, 'the quick run exits 0')
  if (code !== 0) t.comment(output.slice(-4000))

  const results: Json = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'))
  t.equal(results.meta.quick, true)
  t.type(results.meta.node, 'string')

  t.test('lockstep: a ratio to plain Fastify per process, per variant min / median / max', async t => {
    t.notOk(results.lockstep?.error, `lockstep ran${results.lockstep?.error ? `: ${results.lockstep.error}` : ''}`)
    for (const variant of ['plain', 'bare-hook', 'graceful']) {
      const v = results.lockstep?.variants?.[variant]
      t.ok(v?.processes >= 1 && v?.perProcess?.length === v?.processes, `${variant}: one figure per process`)
      t.ok(v?.perProcess?.every(isNumber) && isNumber(v?.ratio?.median) && isNumber(v?.ratio?.max), `${variant}: ratios`)
    }
    t.ok(results.lockstep?.variants?.graceful?.processes >= 2, 'several plugin processes')
  })

  t.test('1. overhead: ratios to plain Fastify for ours and the references', async t => {
    for (const variant of ['plain', 'bare-hook', 'ours', 'under-pressure']) {
      const v = results.overhead?.variants?.[variant]
      t.notOk(v?.error, `${variant} ran${v?.error ? `: ${v.error}` : ''}`)
      t.ok(isNumber(v?.throughputRatio?.median), `${variant} throughput ratio`)
      t.ok(isNumber(v?.cpuPerRequestRatio?.median), `${variant} CPU per request ratio`)
      t.ok(v?.cpuPerRequestRatio?.n >= 1, `${variant} at least one round`)
    }
  })

  t.test('2. SIGTERM to exit: four cases, six variants', async t => {
    for (const name of ['idle', 'trap', 'hung', 'load']) {
      for (const variant of SHUTDOWN_VARIANTS) {
        const entry = results.shutdown?.cases?.[name]?.[variant]
        t.notOk(entry?.error, `${name} ${variant} ran${entry?.error ? `: ${entry.error}` : ''}`)
        t.ok(entry?.runs?.length >= 1, `${name} ${variant} has runs`)
        for (const run of entry?.runs ?? []) {
          t.ok(run.capped === true ? run.ms === null : isNumber(run.ms), `${name} ${variant}: a time or "past the cap"`)
          t.ok(run.exit !== undefined && run.exit !== null, `${name} ${variant}: exit recorded`)
          if (name === 'trap' || name === 'hung') t.type(run.client, 'string', `${name} ${variant}: what the client got`)
        }
      }
    }
  })

  t.test('3. requests across the signal: every outcome counted', async t => {
    for (const variant of SHUTDOWN_VARIANTS) {
      const entry = results.shutdown?.cases?.load?.[variant]
      for (const outcome of LOAD_OUTCOMES) t.ok(isNumber(entry?.totals?.[outcome]), `${variant} ${outcome}`)
      t.ok(entry?.runs?.every((run: Json) => run.before > 0), `${variant}: load was flowing before the signal`)
    }
  })

  t.test('4. memory: checkpoints for plain and ours', async t => {
    for (const variant of ['plain', 'ours']) {
      const v = results.memory?.variants?.[variant]
      t.notOk(v?.error, `${variant} ran${v?.error ? `: ${v.error}` : ''}`)
      t.ok(v?.samples?.length >= 4, `${variant} samples`)
      t.ok(v?.samples?.every((s: Json) => isNumber(s.heapUsed) && isNumber(s.rss)), `${variant} heap and rss`)
      t.ok(isNumber(v?.heapGrowth) && isNumber(v?.heapBytesPerConnection), `${variant} growth`)
    }
  })

  t.test('timeline: both panels and an SVG', async t => {
    for (const variant of ['plain', 'ours']) {
      const v = results.timeline?.variants?.[variant]
      t.notOk(v?.error, `${variant} ran${v?.error ? `: ${v.error}` : ''}`)
      t.ok(isNumber(v?.counts?.answered) && isNumber(v?.phases?.exit), `${variant} counts and phases`)
    }
    const svg = await readFile(join(out, 'timeline.svg'), 'utf8')
    t.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/)
    t.match(svg, /fastify-graceful/)
  })

  t.test('5. scale: per N, plain and ours, heap per connection and three SIGTERM cases', async t => {
    t.same(Object.keys(results.scale?.sizes ?? {}), ['50', '200'], `scale ran${results.scale?.error ? `: ${results.scale.error}` : ''}`)
    for (const [n, byVariant] of Object.entries<Json>(results.scale?.sizes ?? {})) {
      for (const variant of ['plain', 'ours']) {
        const v = byVariant[variant]
        t.ok(isNumber(v?.idle?.heapPerConnection?.median), `N=${n} ${variant}: heap per connection`)
        for (const name of ['idle', 'inflight', 'hung']) {
          t.ok(v?.[name]?.runs?.length >= 1 && v[name].runs.every((run: Json) => !run.error), `N=${n} ${variant} ${name} ran`)
        }
      }
      t.ok(isNumber(byVariant.ours?.hung?.ms?.median), `N=${n}: ours exits with hung requests`)
    }
  })

  t.test('targets table', async t => {
    t.ok(Array.isArray(results.targets) && results.targets.length >= 8, 'one row per target')
  })
})

t.test('node bench/instructions.mjs: instructions per request under callgrind, per process', { skip: missing('valgrind', { args: ['--version'] }), timeout: LIMIT_MS }, async t => {
  const child = spawn('env', ['-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE', process.execPath, INSTRUCTIONS,
    '--processes', 'plain:1,graceful:1', '--warmup', '200', '--requests', '100', '--windows', '2', '--json'], { env: benchEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', chunk => { output += chunk })
  child.stderr.on('data', chunk => { output += chunk })
  const timer = setTimeout(() => child.kill('SIGKILL'), LIMIT_MS - 5_000)
  const [code] = await once(child, 'exit')
  clearTimeout(timer)
  t.equal(code, 0, 'the run exits 0')
  if (code !== 0) t.comment(output.slice(-4000))
  const line = output.split('\n').find(l => l.startsWith('{'))
  t.ok(line, 'a JSON result line')
  const result: Json = JSON.parse(line ?? '{}')
  for (const variant of ['plain', 'graceful']) {
    const v = result.variants?.[variant]
    t.equal(v?.processes, 1, `${variant}: one process`)
    // A Node server runs tens of thousands of instructions per request: a count, not a stand-in.
    t.ok(v?.perProcess?.every((p: Json) => p.perRequest > 10_000 && isNumber(p.ratio) && isNumber(p.runtime) && p.runtime < p.perRequest), `${variant}: instructions per request, a ratio, the runtime's share`)
  }
  t.match(output, /\| graceful \| 1 \|/, 'the table has a row per variant')
})
