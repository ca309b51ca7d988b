// import default, import { fastifyGraceful }, and require() all give the plugin, from the built package.
import { execFileSync } from 'node:child_process'
import t from 'tap'

const root = new URL('..', import.meta.url)
const run = (code: string, type: 'module' | 'commonjs'): string =>
  execFileSync(process.execPath, [`--input-type=${type}`, '-e', code], { cwd: root, encoding: 'utf8' }).trim()

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
