// Rolling restart, HAProxy → the instances over HTTPS (`ssl verify none`, checks `check-ssl`) under keep-alive GET/POST
// load: 4 restarts (plain Fastify: 3; scenario.ts), with fastify-graceful and with plain Fastify (the apps serve that
// protocol: test/fixtures/e2e/server-options.mjs).
import t from 'tap'
import { missing } from '../helpers/system.ts'
import { rollingRestart } from './scenario.ts'

t.setTimeout(180_000)

t.test('rolling restart, HAProxy → the instances over HTTPS (ssl verify none, checks check-ssl): 0 failures with the plugin', { skip: missing('haproxy') }, async t => {
  await rollingRestart(t, 'haproxy-tls', 'HAProxy → the instances over HTTPS (ssl verify none, checks check-ssl)')
})
