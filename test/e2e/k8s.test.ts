// Kubernetes-like rolling restart: L4 balancing with no retries (HAProxy in TCP mode), keep-alive clients and
// clients that open a connection per request; the terminating
// instance keeps getting new connections for 1000 ms after SIGTERM (then `set server ... state maint`
// on the runtime API), the apps see KUBERNETES_SERVICE_HOST (the plugin's default delay: 5000 ms).
import t from 'tap'
import { missing } from '../helpers/system.ts'
import { rollingRestart } from './scenario.ts'

t.setTimeout(180_000)

t.test('Kubernetes-like rolling restart (L4, endpoint removed 1 s after SIGTERM): 0 failures with the plugin', { skip: missing('haproxy') }, async t => {
  await rollingRestart(t, 'k8s', 'Kubernetes-like rolling restart')
})
