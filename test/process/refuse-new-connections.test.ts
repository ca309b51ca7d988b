// Once admission closes, the port closes: a new connection is refused at the TCP level (which every load
// balancer retries elsewhere), never accepted and answered 503, never reset. A connection that was already
// open is served instead, with Connection: close. During a delay window (Kubernetes) new connections are still served.
import http from 'node:http'
import t, { type Test } from 'tap'
import { start, summaryOf, type Child } from '../helpers/child.ts'
import { request } from '../helpers/http.ts'

const phase = (child: Child, name: string, event: string): Promise<Record<string, any>> =>
  child.waitFor(line => line.channel === 'phase' && line.phase === name && line.event === event)
const seen = (child: Child, name: string, event: string): boolean =>
  child.lines.some(line => line.channel === 'phase' && line.phase === name && line.event === event)

function agents (t: Test): { pooled: http.Agent, fresh: http.Agent, other: http.Agent } {
  const made = { pooled: new http.Agent({ keepAlive: true, maxSockets: 1 }), fresh: new http.Agent({ keepAlive: false }), other: new http.Agent({ keepAlive: true }) }
  t.teardown(() => { for (const agent of Object.values(made)) agent.destroy() })
  return made
}

t.test('delay 0: during the drain a new connection is refused (ECONNREFUSED); an idle keep-alive one is served with Connection: close', async t => {
  const child = await start('app.ts', { options: { timeout: 10_000, delay: 0 }, channels: true }, t)
  const port = child.ports[0]!
  const { pooled, fresh, other } = agents(t)
  t.equal((await request(port, '/', { agent: pooled })).headers?.connection, 'keep-alive', 'a keep-alive connection, idle from now on')
  let slowDone = false
  const slow = request(port, '/slow?ms=800', { agent: other }).finally(() => { slowDone = true })
  await child.waitFor(line => line.req?.url === '/slow?ms=800')
  child.process.kill('SIGTERM')
  await phase(child, 'drain', 'start')

  const [refused, served] = await Promise.all([request(port, '/', { agent: fresh, timeout: 5000 }), request(port, '/', { agent: pooled, timeout: 5000 })])
  t.notOk(slowDone, 'precondition: the drain was still open (the slow request still running)')
  t.equal(refused.error, 'ECONNREFUSED', `a new connection is refused at the TCP level, not answered ${refused.status ?? refused.error}`)
  t.equal(served.reused, true, 'the request went out on the connection opened before SIGTERM')
  t.equal(served.status, 200, 'the request on the already-open connection is served, not refused')
  t.equal(served.headers?.connection, 'close', 'with Connection: close')
  t.equal((await slow).status, 200, 'the request in flight finished')
  const { code } = await child.exited()
  t.equal(code, 0)
  t.match(summaryOf(child), { exitCode: 0, requests: { cut: 0 } })
})

t.test('with a delay: new connections are still served during the window, refused once the drain begins', async t => {
  const child = await start('app.ts', { options: { timeout: 8000, delay: 1000 }, channels: true }, t)
  const port = child.ports[0]!
  const { fresh, other } = agents(t)
  // In flight from before the signal to well past the window: it keeps the drain open.
  let slowDone = false
  const slow = request(port, '/slow?ms=2500', { agent: other }).finally(() => { slowDone = true })
  await child.waitFor(line => line.req?.url === '/slow?ms=2500')
  child.process.kill('SIGTERM')
  await phase(child, 'delay', 'start')
  const during = await request(port, '/', { agent: fresh, timeout: 5000 })
  t.notOk(seen(child, 'delay', 'end'), 'precondition: answered inside the delay window')
  t.equal(during.status, 200, `a new connection during the delay window is served (got ${during.status ?? during.error})`)

  await phase(child, 'drain', 'start')
  const refused = await request(port, '/', { agent: fresh, timeout: 5000 })
  t.notOk(slowDone, 'precondition: the drain was still open')
  t.equal(refused.error, 'ECONNREFUSED', `after the window, a new connection is refused, not answered ${refused.status ?? refused.error}`)
  t.equal((await slow).status, 200)
  t.equal((await child.exited()).code, 0)
})
