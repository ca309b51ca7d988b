// import default, import { fastifyGraceful }, and require() all give the plugin, from the built package.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import t from 'tap'

const root = new URL('../..', import.meta.url)
// The built bundle records no coverage: its statements, mapped back to lib/, do not line up with the sources' own.
const env = { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' }
const run = (code: string, type: 'module' | 'commonjs'): string =>
  execFileSync(process.execPath, [`--input-type=${type}`, '-e', code], { cwd: root, encoding: 'utf8', env }).trim()

t.test('ESM: default and named export are the plugin', async t => {
  const out = run("import graceful, { fastifyGraceful } from 'fastify-graceful'; console.log(typeof graceful, graceful === fastifyGraceful, graceful[Symbol.for('fastify.display-name')])", 'module')
  t.equal(out, 'function true fastify-graceful')
})

t.test('CommonJS: require() gives the plugin, with the named exports on it', async t => {
  const out = run("const g = require('fastify-graceful'); console.log(typeof g, g === g.fastifyGraceful, g === g.default)", 'commonjs')
  t.equal(out, 'function true true')
})

t.test('CommonJS: the plugin registers and decorates the root instance', async t => {
  const out = run(`
    const Fastify = require('fastify')
    const app = Fastify()
    app.register(require('fastify-graceful'), { signals: false })
    app.ready().then(() => { console.log(app.isShuttingDown, typeof app.drain, typeof app.addShutdownHook); return app.close() })
  `, 'commonjs')
  t.equal(out, 'false function function')
})

t.test('require() and import share one module instance (one set of signal listeners)', async t => {
  const out = run("import { createRequire } from 'node:module'; import graceful from 'fastify-graceful'; console.log(createRequire(import.meta.url)('fastify-graceful') === graceful)", 'module')
  t.equal(out, 'true')
})

t.test('the CommonJS types name every type the ES module exports', async t => {
  const esm = readFileSync(new URL('dist/index.d.ts', root), 'utf8')
  const cjs = readFileSync(new URL('cjs/index.d.cts', root), 'utf8')
  const names = [...esm.matchAll(/^export type \{ ([^}]+) \}/gm)].flatMap(match => match[1]!.split(',').map(name => name.trim()))
  t.ok(names.length >= 9, `found the type exports: ${names.join(', ')}`)
  for (const name of names) t.match(cjs, new RegExp(`export type ${name} = Types\\.${name}\\b`), name)
})
