// Rolling restart through HAProxy with active checks and `retries 0`, no redispatch: the class of balancers that do
// not retry a refused connection (Traefik without its Retry middleware, Envoy without a retry policy, cloud L7
// balancers, Go-based proxies). A refused connection is the client's 503 there, so the port must stay open until
// the balancer has stopped sending. Needs `haproxy` on PATH (CI installs it).
import t from 'tap'
import { missing } from '../helpers/system.ts'
import { rollingRestart } from './scenario.ts'

t.setTimeout(180_000)

t.test('rolling restart behind HAProxy with retries 0: 0 failures with the plugin', { skip: missing('haproxy') }, async t => {
  await rollingRestart(t, 'haproxy-noretry', 'HAProxy (retries 0) rolling restart')
})
