// The quiet rule: after a signal the port stays open, readiness failing, until the balancers have stopped sending.
// Each process test plays a balancer by hand: a health checker polling readiness on new connections, and traffic on
// new connections while the instance is "in rotation". On the old behaviour (the port closed at the signal) the
// probes and the traffic after the signal were refused.
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { start, summaryOf, type Child } from '../helpers/child.ts'
import { request, type Answer } from '../helpers/http.ts'

interface Sent { at: number, answer: Answer }

/**
 * Sends `path` on a new connection every `everyMs` while `go()` says so; what each got, with when it was sent. The first
 * `go()` comes a turn later, so loops started one after the other can each read what the others sent.
 */
function every (port: number, path: string, everyMs: number, go: (sent: Sent[]) => boolean): { sent: Sent[], done: Promise<void> } {
  const sent: Sent[] = []
  const done = (async () => {
    await null
    while (go(sent)) {
      const at = Date.now()
      const answer = await request(port, path, { agent: new http.Agent({ keepAlive: false }) })
      sent.push({ at, answer })
      await sleep(Math.max(0, everyMs - (Date.now() - at)))
    }
  })()
  return { sent, done }
}

/** Resolves once `ready()` holds: the traffic before the signal has taken the shape the test needs. */
async function until (ready: () => boolean): Promise<void> {
  while (!ready()) await sleep(10)
}

const served = (child: Child): Record<string, any> | undefined => child.lines.find(line => line.graceful?.event === 'served')?.graceful
const failed = (sent: Sent[]): Sent[] => sent.filter(({ answer }) => answer.status !== 200)

t.test('health probes only: the port stays open until the checker has been answered 503, then closes', async t => {
  const child = await start('app.ts', { options: { health: true, timeout: 10_000 } }, t)
  const port = child.ports[0]!
  let signalledAt = Infinity
  const checker = every(port, '/health/ready', 200, sent => sent.every(({ answer }) => answer.status === 200))
  // A checker: seen polling at least twice before the signal.
  await until(() => checker.sent.length >= 3)
  signalledAt = Date.now()
  child.process.kill('SIGTERM')
  await checker.done
  const told = checker.sent.at(-1)!
  t.ok(told.at >= signalledAt, 'the probe after the signal')
  t.equal(told.answer.status, 503, 'is answered 503, not refused')
  const { code } = await child.exited()
  t.equal(code, 0)
  t.match(served(child), { ended: 'quiet' }, 'the port closed once the checker was told and nothing else came')
  t.ok(served(child)!.durationMs < 2000, `served ${served(child)!.durationMs} ms after the signal`)
})

t.test('light traffic: every request a balancer sends until it takes the instance out is served', async t => {
  const child = await start('app.ts', { options: { health: true, timeout: 10_000 } }, t)
  const port = child.ports[0]!
  // A balancer with 'fall 3': out of rotation after three 503s in a row (at least 400 ms after the signal) and once
  // its traffic, a request every 300 ms while in rotation, has sent one after the signal: on a loaded machine the
  // three 503s may otherwise come before the traffic's next turn, and nothing would be sent during the shutdown.
  let signalledAt = Infinity
  const inRotation = (): boolean => checker.sent.filter(({ answer }) => answer.status === 503).length < 3 ||
    !traffic.sent.some(({ at }) => at > signalledAt)
  const checker = every(port, '/health/ready', 200, inRotation)
  const traffic = every(port, '/', 300, inRotation)
  // The traffic's pace before the signal: a few of its gaps.
  await until(() => checker.sent.length >= 3 && traffic.sent.length >= 5)
  signalledAt = Date.now()
  child.process.kill('SIGTERM')
  await Promise.all([checker.done, traffic.done])
  const tookOut = Date.now()
  const duringShutdown = traffic.sent.filter(({ at }) => at > signalledAt)
  t.ok(duringShutdown.length >= 1 && duringShutdown.every(({ answer }) => answer.status === 200),
    `the traffic sent after the signal was served: ${duringShutdown.map(({ answer }) => answer.status).join(', ')}`)
  t.same(failed(traffic.sent), [], 'none of it failed')
  const { code } = await child.exited()
  t.equal(code, 0)
  t.match(served(child), { ended: 'quiet' })
  // Quiet long enough for the pace seen (a request every 300 ms, counted per 250 ms window): three gaps, not the
  // 500 ms that steady traffic would get.
  // The child's own clock says when the port closed (its log line), not the signal's send time plus its duration.
  const lastSent = Math.max(...traffic.sent.map(({ at }) => at))
  const closedAt = child.lines.find(line => line.graceful?.event === 'served')!.time as number
  t.ok(closedAt >= lastSent + 700, `the port closed ${closedAt - lastSent} ms after the last request was sent`)
  t.ok(tookOut - signalledAt < 3000)
})

/** A checker and traffic that never stop, across a SIGTERM: what the traffic got, and when the signal went. */
async function endless (options: Record<string, unknown>, t: Test, hold?: { at: number, ms: number }): Promise<{ child: Child, code: number | null, sent: Sent[], signalledAt: number }> {
  const child = await start('app.ts', { options: { health: true, ...options } }, t)
  const port = child.ports[0]!
  let stop = false
  const checker = every(port, '/health/ready', 200, () => !stop)
  const traffic = every(port, '/', 50, () => !stop)
  await until(() => checker.sent.length >= 3 && traffic.sent.length >= 10)
  const signalledAt = Date.now()
  child.process.kill('SIGTERM')
  // A slow request sent `at` ms after the signal keeps the process there for a while, its port closed or not.
  const held = hold === undefined ? undefined : sleep(hold.at).then(() => request(port, `/slow?ms=${hold.ms}`))
  const { code } = await child.exited()
  await held
  stop = true
  await Promise.all([checker.done, traffic.done])
  return { child, code, sent: traffic.sent, signalledAt }
}

t.test('traffic that never stops: the port closes at maxDelay', async t => {
  // A request in flight across the bound holds the process after the port closed: long enough to see it closed.
  const { child, code, sent, signalledAt } = await endless({ timeout: 10_000, maxDelay: 1500 }, t, { at: 1200, ms: 1000 })
  t.equal(code, 0)
  t.match(served(child), { ended: 'bound' })
  t.ok(served(child)!.durationMs >= 1450 && served(child)!.durationMs < 3000, `served ${served(child)!.durationMs} ms`)
  const beforeBound = sent.filter(({ at }) => at > signalledAt && at < signalledAt + 1200)
  t.ok(beforeBound.length > 5, 'traffic went on after the signal')
  t.same(failed(beforeBound), [], 'and was served until the bound')
  t.ok(sent.some(({ answer }) => answer.error === 'ECONNREFUSED'), 'after it, the port is closed')
})

t.test('the default bound gives way to a short timeout', async t => {
  const { child, code } = await endless({ timeout: 3000 }, t)
  t.equal(code, 0)
  // timeout 3000, hookTimeout 10000: half the timeout is kept for the drain and the hooks.
  t.match(served(child), { ended: 'bound' })
  t.ok(served(child)!.durationMs >= 1450 && served(child)!.durationMs < 2500, `served ${served(child)!.durationMs} ms`)
})

t.test('local development: no health checker, a tab polling now and then: the port closes at once', async t => {
  const child = await start('app.ts', { options: { health: true } }, t)
  const port = child.ports[0]!
  let stop = false
  const tab = every(port, '/', 400, () => !stop)
  await until(() => tab.sent.length >= 3)
  const signalledAt = Date.now()
  child.process.kill('SIGTERM')
  const { code, at } = await child.exited()
  stop = true
  await tab.done
  t.equal(code, 0)
  t.equal(served(child), undefined, 'no serving window')
  t.ok(at - signalledAt < 5000, `exited ${at - signalledAt} ms after the signal, not at the 10 s bound`)
})

t.test('Kubernetes: traffic that goes on past the 5 s floor is served until it stops', { timeout: 60_000 }, async t => {
  const child = await start('app.ts', { options: { timeout: 20_000 } }, t, { env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' } })
  const port = child.ports[0]!
  let signalledAt = Infinity
  // The endpoint removal reaches this node 6.5 s after the signal: until then new connections keep coming.
  const traffic = every(port, '/', 100, () => Date.now() < signalledAt + 6500)
  await until(() => traffic.sent.length >= 5)
  signalledAt = Date.now()
  child.process.kill('SIGTERM')
  await traffic.done
  t.ok(traffic.sent.filter(({ at }) => at > signalledAt + 5000).length > 5, 'traffic went on past 5 s')
  t.same(failed(traffic.sent), [], 'every request was served')
  const { code } = await child.exited()
  t.equal(code, 0)
  t.match(served(child), { ended: 'quiet' })
  t.ok(served(child)!.durationMs >= 6500, `served ${served(child)!.durationMs} ms after the signal`)
  t.match(summaryOf(child), { exitCode: 0 })
})
