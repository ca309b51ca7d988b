// Rolling restart, nginx → the instances over HTTPS (`proxy_pass https://`, passive checks only) under keep-alive
// GET/POST load: 4 restarts (plain Fastify: 3; scenario.ts), with fastify-graceful and with plain Fastify (the apps
// serve that protocol: test/fixtures/e2e/server-options.mjs).
import t from 'tap'
import { missing } from '../helpers/system.ts'
import { rollingRestart } from './scenario.ts'

t.setTimeout(180_000)

t.test('rolling restart, nginx → the instances over HTTPS (proxy_pass https://, passive checks only): 0 failures with the plugin', { skip: missing('nginx') }, async t => {
  await rollingRestart(t, 'nginx-tls', 'nginx → the instances over HTTPS (proxy_pass https://, passive checks only)')
})
