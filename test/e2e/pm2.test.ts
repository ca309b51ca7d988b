// pm2 reload in cluster mode (2 workers, wait_ready) under keep-alive GET/POST load sent straight to
// the port pm2 owns: 0 client-visible failures with the plugin, plain Fastify reported beside it.
import t from 'tap'
import { distBuilt, runScenario } from './scenario.ts'

t.setTimeout(240_000)

t.test('pm2 reload: 0 failures with the plugin', async t => {
  if (!distBuilt()) {
    t.fail('dist/ is missing or stale: run `npm run build` first (examples/app.mjs imports fastify-graceful from dist/)')
    return
  }
  // Three reloads with the plugin; plain Fastify's failures show on any reload (each of its workers waits for the
  // SIGKILL at kill_timeout): two of them, at the same time as the plugin's (each run has its own pm2 and port).
  const { results, table } = await runScenario('pm2', 220_000, ['--reloads', '3', '--plain-reloads', '2', '--parallel'])
  t.comment(`pm2 reload\n${table}`)
  const plugin = results.find(r => r.name === 'plugin')
  const plain = results.find(r => r.name === 'plain')
  if (plugin === undefined || plain === undefined) throw new Error('both scenarios must report')

  for (const f of plugin.failures.slice(0, 20)) t.comment(`plugin failure: ${JSON.stringify(f)}`)
  t.equal(plugin.failed, 0, `no client-visible failure with the plugin (${plugin.requests} requests, ${plugin.restarts} worker restarts)`)
  t.equal(plugin.forcedKills, 0, 'no worker outlived kill_timeout')
  t.same(plugin.exitCodes, Array(plugin.restarts).fill(0), 'every replaced worker exited with code 0')
  t.ok(plugin.restarts >= 6, 'every reload replaced both workers')
  t.ok(plain.requests > 500, `plain Fastify baseline ran: ${plain.failed} failures out of ${plain.requests}`)
})
