// Rolling restart through nginx (open-source: passive checks only, upstream keepalive) under keep-alive GET/POST load:
// 4 restarts (plain Fastify: 3; scenario.ts), with fastify-graceful and with plain Fastify. nginx runs in the
// foreground as a child of the runner, with its prefix, config, pid and logs in a temp dir.
import t from 'tap'
import { missing } from '../helpers/system.ts'
import { rollingRestart } from './scenario.ts'

t.setTimeout(180_000)

t.test('rolling restart behind nginx: 0 failures with the plugin', { skip: missing('nginx') }, async t => {
  await rollingRestart(t, 'nginx', 'nginx rolling restart')
})
