// Rolling restart, HAProxy → the instances over h2c (`proto h2`, checks `check-proto h2`) under keep-alive GET/POST
// load: 8 restarts (plain Fastify: 2; scenario.ts), with fastify-graceful and with plain Fastify (the apps serve that
// protocol: test/fixtures/e2e/server-options.mjs).
import t from 'tap'
import { missing } from '../helpers/system.ts'
import { rollingRestart } from './scenario.ts'

t.setTimeout(180_000)

t.test('rolling restart, HAProxy → the instances over h2c (proto h2, checks check-proto h2): 0 failures with the plugin', { skip: missing('haproxy') }, async t => {
  await rollingRestart(t, 'haproxy-h2c', 'HAProxy → the instances over h2c (proto h2, checks check-proto h2)')
})
