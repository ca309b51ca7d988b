// PM2, cluster mode: `pm2 start examples/ecosystem.config.cjs`, then `pm2 reload fastify-graceful-example`
// replaces the workers one at a time with no failed request.
const path = require('node:path')

// Only the variables that are set: pm2 would pass an undefined one on as the string "undefined".
const passThrough = Object.fromEntries(
  ['GRACEFUL_TIMEOUT', 'GRACEFUL_DELAY', 'LOG_LEVEL', 'HOST']
    .filter((name) => process.env[name] !== undefined)
    .map((name) => [name, process.env[name]])
)

module.exports = {
  apps: [{
    name: 'fastify-graceful-example',
    script: path.join(__dirname, 'app.mjs'),
    exec_mode: 'cluster', // the pm2 daemon owns the port and hands connections to the workers
    instances: 2, // or 'max'
    // The plugin sends process.send('ready') once the server listens: pm2 reload waits for it before
    // stopping the old worker, so a worker that is still loading never replaces a serving one.
    wait_ready: true,
    listen_timeout: 10_000, // how long pm2 waits for 'ready' before it gives up and goes on
    // pm2 stops a worker with SIGINT (the plugin listens for SIGINT and SIGTERM), then SIGKILLs it after
    // kill_timeout: keep it above the plugin's `timeout` (25 s in app.mjs) so the plugin always exits first.
    kill_timeout: 30_000,
    // The pm2 daemon keeps handing new connections to a stopping worker until it stops listening, and
    // keep-alive clients stay on it: 1 s of serving with `Connection: close` moves them all to the
    // other workers before admission closes (with no delay, requests arriving during the drain get 503).
    env: { NODE_ENV: 'production', PORT: process.env.PORT ?? '3000', GRACEFUL_DELAY: '1000', ...passThrough }
  }]
}
