// Kubernetes-like rolling restart where the endpoint removal reaches the L4 balancer 8 s after SIGTERM, later than
// the 5 s floor: the port stays open until the traffic has stopped. Keep-alive clients and clients that open a
// connection per request. Needs `haproxy` on PATH (CI installs it).
import t from 'tap'
import { missing } from '../helpers/system.ts'
import { rollingRestart } from './scenario.ts'

t.setTimeout(180_000)

t.test('Kubernetes-like rolling restart, endpoint removed 8 s after SIGTERM: 0 failures with the plugin', { skip: missing('haproxy') }, async t => {
  await rollingRestart(t, 'k8s-late', 'Kubernetes-like rolling restart, late endpoint removal')
})
