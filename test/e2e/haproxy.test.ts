// Rolling restart through HAProxy (HTTP mode, active checks on /health/ready, inter 250 fall 1, retries 2, redispatch)
// under keep-alive GET/POST load: 4 restarts (plain Fastify: 3; scenario.ts), every client-visible failure counted,
// with fastify-graceful and with plain Fastify. Needs `haproxy` on PATH (CI installs it).
import t from 'tap'
import { missing } from '../helpers/system.ts'
import { rollingRestart } from './scenario.ts'

t.setTimeout(180_000)

t.test('rolling restart behind HAProxy: 0 failures with the plugin', { skip: missing('haproxy') }, async t => {
  await rollingRestart(t, 'haproxy', 'HAProxy rolling restart')
})
