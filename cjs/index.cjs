'use strict'
// require('fastify-graceful'): the ES module itself, loaded with require(esm), so import and require share one
// instance (one set of signal listeners); the ES module's 'module.exports' export is the plugin.
module.exports = require('../dist/index.js')
