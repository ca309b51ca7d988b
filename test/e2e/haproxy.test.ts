// Rolling restart through HAProxy under keep-alive GET/POST load: 10 restarts, every client-visible
// failure counted, with fastify-graceful and with plain Fastify. Needs `haproxy` on PATH (CI installs it).
import t from 'tap'
import { distBuilt, haproxyOnPath, runScenario } from './scenario.ts'

t.setTimeout(240_000)

t.test('rolling restart behind HAProxy: 0 failures with the plugin', async t => {
  if (!haproxyOnPath()) {
    t.fail('haproxy is not on PATH: this e2e test needs HAProxy 2.6+ (Debian/Ubuntu: apt-get install -y haproxy, which puts it in /usr/sbin; .ci/run installs it)')
    return
  }
  if (!distBuilt()) {
    t.fail('dist/ is missing or stale: run `npm run build` first (examples/app.mjs imports fastify-graceful from dist/)')
    return
  }
  const { results, table } = await runScenario('haproxy', 220_000)
  t.comment(`HAProxy rolling restart\n${table}`)
  const plugin = results.find(r => r.name === 'plugin')
  const plain = results.find(r => r.name === 'plain')
  if (plugin === undefined || plain === undefined) throw new Error('both scenarios must report')

  for (const f of plugin.failures.slice(0, 20)) t.comment(`plugin failure: ${JSON.stringify(f)}`)
  t.equal(plugin.failed, 0, `no client-visible failure with the plugin (${plugin.requests} requests, ${plugin.restarts} restarts)`)
  t.equal(plugin.forcedKills, 0, 'every instance exited by itself before the grace period')
  t.same(plugin.exitCodes, Array(plugin.restarts).fill(0), 'every instance exited with code 0 (no deadline hit, no hook failed)')
  t.ok(plugin.restarts >= 10, 'at least 10 restarts')
  t.ok(plugin.get > 500 && plugin.post > 500, 'GET and POST load ran throughout')
  t.ok(plain.requests > 500, `plain Fastify baseline ran: ${plain.failed} failures out of ${plain.requests}`)
})
