// npm run test:fastify: Fastify's own test suite (shipped in node_modules/fastify/test), run twice against the
// installed Fastify: plain, then with fastify-graceful registered (signals: false) on every instance a test creates.
// Every test whose outcome differs must be listed in docs/fastify-compat.md, as intended or as an artefact of adding
// any plugin; an unlisted difference fails the run (exit 1).
//
//   node compat/fastify-suite.mjs                                both runs, then the differences
//   node compat/fastify-suite.mjs test/close.test.js ...         only those files of Fastify's suite
//
// The suite's own dev dependencies (those its tests require that the project does not provide) are installed once
// into .cache/fastify-suite/<version>/ (git-ignored), next to a copy of the installed package, so that the tests'
// relative requires and their bare ones both resolve there, and the project's node_modules provide the rest.

import { spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { builtinModules, createRequire } from 'node:module'
import { availableParallelism } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const here = join(root, 'compat')
const installed = join(root, 'node_modules', 'fastify')
const { version, devDependencies } = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'))
const cache = join(root, '.cache', 'fastify-suite', version)
const copy = join(cache, 'fastify')
const docs = join(root, 'docs', 'fastify-compat.md')
// Another build of the plugin can be compared (FASTIFY_SUITE_PLUGIN=/path/to/index.js).
const plugin = process.env.FASTIFY_SUITE_PLUGIN ?? join(root, 'dist', 'index.js')
// What Fastify's own runner (borp) uses: its default per-test timeout, and the files its .borp.yaml names.
const testTimeout = 30_000
const isTestFile = name => name.endsWith('.test.js') || name.endsWith('.test.mjs')
const runTimeout = 30 * 60_000

function run (command, args, options = {}) {
  return new Promise(resolve => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options })
    let output = ''
    child.stdout.on('data', chunk => { output += chunk })
    child.stderr.on('data', chunk => { output += chunk })
    // A suite that hangs must not hold CI for ever.
    const timer = setTimeout(() => child.kill('SIGKILL'), runTimeout)
    child.on('close', code => {
      clearTimeout(timer)
      resolve({ code, output })
    })
  })
}

function walk (dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap(entry => {
    const path = join(dir, entry.name)
    return entry.isDirectory() ? walk(path) : [path]
  })
}

/** The packages that Fastify's tests load by name and that its devDependencies provide. */
function requiredDevDependencies (testDir) {
  const names = new Set()
  const pattern = /(?:require\(|from\s+|import\()\s*['"]([^'"./][^'"]*)['"]/g
  for (const file of walk(testDir)) {
    if (!/\.(c|m)?js$/.test(file)) continue
    for (const [, specifier] of readFileSync(file, 'utf8').matchAll(pattern)) {
      const name = specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/')
      if (!specifier.startsWith('node:') && !builtinModules.includes(name) && devDependencies[name] !== undefined) names.add(name)
    }
  }
  return [...names].sort()
}

/** Already provided (by the project's node_modules) in the major version Fastify's tests ask for. */
function provided (name, from) {
  const major = /^[\^~]?(\d+)/.exec(devDependencies[name])?.[1]
  try {
    const manifest = createRequire(join(from, 'index.js')).resolve(`${name}/package.json`)
    return JSON.parse(readFileSync(manifest, 'utf8')).version.split('.')[0] === major
  } catch {
    return false
  }
}

async function prepare () {
  const ready = join(cache, 'ready.json')
  if (existsSync(ready)) return JSON.parse(readFileSync(ready, 'utf8'))
  console.log(`fastify-suite: preparing ${relative(root, cache)} (a copy of fastify ${version} and its tests' dev dependencies)`)
  rmSync(cache, { recursive: true, force: true })
  mkdirSync(cache, { recursive: true })
  cpSync(installed, copy, { recursive: true, dereference: true })
  const needed = requiredDevDependencies(join(copy, 'test')).filter(name => !provided(name, join(copy, 'test')))
  const dependencies = Object.fromEntries(needed.map(name => [name, devDependencies[name]]))
  writeFileSync(join(cache, 'package.json'), JSON.stringify({ private: true, dependencies }, null, 2))
  const install = await run('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', '--ignore-scripts'], { cwd: cache })
  if (install.code !== 0) {
    console.error(install.output)
    throw new Error(`npm install in ${cache} exited with ${install.code}`)
  }
  writeFileSync(ready, JSON.stringify(needed))
  return needed
}

/** One run of the suite; resolves with one record per finished test (see compat/reporter.mjs). */
async function suite (files, withPlugin) {
  const out = join(cache, withPlugin ? 'plugin.jsonl' : 'plain.jsonl')
  rmSync(out, { force: true })
  const args = [
    ...(withPlugin ? ['--require', join(here, 'preload.cjs')] : []),
    '--test',
    '--test-reporter', join(here, 'reporter.mjs'), '--test-reporter-destination', out,
    '--test-concurrency', String(availableParallelism()),
    '--test-timeout', String(testTimeout),
    ...files
  ]
  const env = { ...process.env, FASTIFY_SUITE_MAIN: join(copy, 'fastify.js'), FASTIFY_SUITE_PLUGIN: plugin }
  delete env.NODE_OPTIONS
  delete env.NODE_TEST_CONTEXT
  const startedAt = performance.now()
  const { output } = await run(process.execPath, args, { cwd: copy, env })
  const seconds = (performance.now() - startedAt) / 1000
  if (!existsSync(out)) {
    console.error(output)
    throw new Error('the test runner wrote no report')
  }
  return { seconds, tests: readFileSync(out, 'utf8').split('\n').filter(Boolean).map(line => JSON.parse(line)) }
}

/** Each test by file and name (a name repeated in a file is numbered). */
function byTest (tests) {
  const map = new Map()
  for (const test of tests) {
    const file = test.file === undefined ? '?' : relative(copy, test.file)
    // A file that failed as a whole (timed out, crashed) is reported under its own path.
    const name = test.name === test.file ? '(the whole file)' : test.name
    let key = `${file}\t${name}`
    for (let n = 2; map.has(key); n++) key = `${file}\t${name} #${n}`
    map.set(key, { ...test, file })
  }
  return map
}

/** The rows of docs/fastify-compat.md's tables whose first cell is intended or artefact: | class | file | `test` | why | */
function classifications () {
  const rows = []
  for (const line of readFileSync(docs, 'utf8').split('\n')) {
    const cells = line.split(/(?<!\\)\|/).slice(1, -1).map(cell => cell.trim())
    if (cells.length < 4 || !['intended', 'artefact'].includes(cells[0])) continue
    rows.push({ kind: cells[0], file: cells[1].replace(/`/g, ''), test: cells[2].replace(/^`|`$/g, '').replace(/\\\|/g, '|'), used: false })
  }
  return rows
}

function classify (rows, file, name) {
  const row = rows.find(row => row.file === file && (row.test === '*' || row.test === name)) ??
    rows.find(row => row.file === '*' && row.test === name)
  if (row !== undefined) row.used = true
  return row?.kind ?? 'unclassified'
}

const failed = test => test?.outcome === 'fail'

/** Tests that fail with the plugin and not without it (or the reverse), and tests that only one run reached. */
function differences (plain, withPlugin) {
  const diffs = []
  for (const key of new Set([...plain.keys(), ...withPlugin.keys()])) {
    const a = plain.get(key)
    const b = withPlugin.get(key)
    if (failed(a) === failed(b) && (a === undefined) === (b === undefined)) continue
    const [file, name] = key.split('\t')
    diffs.push({ key, file, name, plain: a?.outcome ?? 'absent', plugin: b?.outcome ?? 'absent', message: b?.message ?? a?.message })
  }
  return diffs
}

function count (tests) {
  const failures = [...tests.values()].filter(failed)
  return `${failures.length} failed of ${tests.size} tests, in ${new Set(failures.map(test => test.file)).size} files`
}

const requested = process.argv.slice(2)
const needed = await prepare()
if (!existsSync(plugin)) throw new Error('dist/index.js is missing: run npm run build first')
const files = requested.length > 0
  ? requested
  : walk(join(copy, 'test')).filter(file => isTestFile(file)).map(file => relative(copy, file)).sort()
console.log(`fastify-suite: fastify ${version}, ${files.length} test files, dev dependencies from the cache: ${needed.join(', ') || 'none'}`)

const plainRun = await suite(files, false)
console.log(`fastify-suite: plain run took ${plainRun.seconds.toFixed(0)} s`)
const pluginRun = await suite(files, true)
console.log(`fastify-suite: run with the plugin took ${pluginRun.seconds.toFixed(0)} s`)
let plain = byTest(plainRun.tests)
let withPlugin = byTest(pluginRun.tests)
let diffs = differences(plain, withPlugin)

// The machine may be busy: a difference that does not come back when its files run again is noise, not the plugin.
const rows = classifications()
const suspect = [...new Set(diffs.filter(diff => classify(rows, diff.file, diff.name) === 'unclassified').map(diff => diff.file))]
if (suspect.length > 0) {
  console.log(`fastify-suite: running again the files with an unlisted difference: ${suspect.join(', ')}`)
  const again = (map, tests) => new Map([...map].filter(([key]) => !suspect.includes(key.split('\t')[0])).concat([...byTest(tests)]))
  plain = again(plain, (await suite(suspect, false)).tests)
  withPlugin = again(withPlugin, (await suite(suspect, true)).tests)
  diffs = differences(plain, withPlugin)
}

for (const row of rows) row.used = false
const classified = diffs.map(diff => ({ ...diff, kind: classify(rows, diff.file, diff.name) }))
console.log(`\nplain:       ${count(plain)}`)
console.log(`with plugin: ${count(withPlugin)}`)
for (const kind of ['intended', 'artefact', 'unclassified']) {
  const list = classified.filter(diff => diff.kind === kind)
  console.log(`\n${kind}: ${list.length}`)
  for (const diff of list) {
    console.log(`  ${diff.file} > ${diff.name}: plain ${diff.plain}, with plugin ${diff.plugin}${diff.message === undefined || kind !== 'unclassified' ? '' : ` (${diff.message})`}`)
  }
}
const stale = rows.filter(row => !row.used)
if (stale.length > 0 && requested.length === 0) {
  console.log(`\nlisted in ${relative(root, docs)} but no longer different (remove them?):`)
  for (const row of stale) console.log(`  ${row.kind}: ${row.file} > ${row.test}`)
}
process.exitCode = classified.some(diff => diff.kind === 'unclassified') ? 1 : 0
