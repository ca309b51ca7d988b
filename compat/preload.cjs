'use strict'
// Loaded with --require into every test file's process of Fastify's own suite: the `fastify` factory that the tests
// reach (require('..'), require('../fastify'), import '../../fastify.js') registers fastify-graceful on every instance
// it creates, with signals: false, as a user's test suite would. ES imports of a CommonJS module that is already in
// require's cache get that cached module's exports, so replacing them here covers both.
const { createRequire } = require('node:module')
const { join } = require('node:path')

const fastifyMain = process.env.FASTIFY_SUITE_MAIN
const pluginPath = process.env.FASTIFY_SUITE_PLUGIN
if (fastifyMain === undefined || pluginPath === undefined) throw new Error('FASTIFY_SUITE_MAIN and FASTIFY_SUITE_PLUGIN must be set')

const load = createRequire(join(__dirname, 'preload.cjs'))
const original = load(fastifyMain)
const graceful = load(pluginPath)

function fastify (...args) {
  const app = original(...args)
  app.register(graceful, { signals: false })
  return app
}
Object.assign(fastify, original, { fastify, default: fastify })
load.cache[load.resolve(fastifyMain)].exports = fastify
