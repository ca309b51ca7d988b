// The quiet rule (lib/traffic.ts) on a fake clock: who counts as a checker, the quiet time that the traffic's pace
// asks for, the bounds; exact moments, no real wait. test/process/quiet.test.ts plays a balancer against a real process.
import t from 'tap'
import { createTraffic, QUIET_MIN_UNSEEN_MS } from '../../lib/traffic.ts'
import { fakeClock, type FakeClock } from '../helpers/fake-clock.ts'

const never = new AbortController().signal
/** When handOver() ended, on the fake clock, and why. */
const ended = (clock: FakeClock, handOver: Promise<string>): Promise<{ why: string, at: number }> =>
  handOver.then(why => ({ why, at: clock.now() }))

await t.test('a checker seen once is no checker, kubelet is none either, and only the latest 64 are kept', async t => {
  const clock = fakeClock()
  const traffic = createTraffic(false, clock)
  traffic.probed('readiness', '10.0.0.9', 'curl/8', false)
  for (let i = 0; i < 2; i++) traffic.probed('readiness', '10.0.0.2', 'kube-probe/1.30', false)
  for (let i = 0; i < 70; i++) traffic.probed('readiness', `10.1.0.${i}`, undefined, false)
  traffic.begin(0)
  t.equal(traffic.watched, false)
  t.equal(await traffic.handOver(0, 1000, never), 'nobody watching')
})

await t.test('a checker that stops coming counts as gone after twice its interval', async t => {
  const clock = fakeClock()
  const traffic = createTraffic(false, clock)
  traffic.probed('readiness', '10.0.0.1', 'lb', false)
  await clock.advance(20)
  traffic.probed('readiness', '10.0.0.1', 'lb', false)
  traffic.begin(0)
  traffic.begin(5)
  t.equal(traffic.watched, true)
  const result = ended(clock, traffic.handOver(0, 5000, never))
  await clock.advance(5000)
  // Gone after 2 × 20 + 100 ms; then the quiet, at least 500 ms with a checker, counted from the signal.
  t.same(await result, { why: 'quiet', at: 20 + 500 })
})

await t.test('a checker answered 503 since the signal is told: the quiet alone remains', async t => {
  const clock = fakeClock()
  const traffic = createTraffic(false, clock)
  for (let i = 0; i < 3; i++) {
    traffic.probed('readiness', '10.0.0.1', 'lb', false)
    await clock.advance(1000)
  }
  traffic.begin(0)
  const result = ended(clock, traffic.handOver(0, 9000, never))
  await clock.advance(100)
  traffic.probed('readiness', '10.0.0.1', 'lb', true)
  await clock.advance(9000)
  // Polling every 1000 ms, not gone before 2100 ms: told at 100 ms, quiet from the signal on (500 ms).
  t.same(await result, { why: 'quiet', at: 3000 + 500 })
})

await t.test('the quiet lasts three of the mean gaps before the signal (probes not counted), at least 1000 ms with no checker', async t => {
  const clock = fakeClock()
  const traffic = createTraffic(true, clock)
  traffic.windowEnded(1)
  await clock.advance(400)
  traffic.probed('liveness')
  traffic.windowEnded(3)
  await clock.advance(400)
  traffic.windowEnded(4)
  traffic.begin(4)
  traffic.arrived()
  const result = ended(clock, traffic.handOver(0, 5000, never))
  await clock.advance(5000)
  // Requests 1, 2 at 400 ms, 3 at 800 ms: 400 ms a gap, 1200 ms of quiet; looked at every 25 ms.
  t.same(await result, { why: 'quiet', at: 800 + 1200 })
})

await t.test('the pace after the signal counts too; the drain cuts the wait short', async t => {
  const clock = fakeClock()
  const traffic = createTraffic(true, clock)
  traffic.begin(0)
  traffic.arrived()
  const cut = new AbortController()
  const result = ended(clock, traffic.handOver(0, 5000, cut.signal))
  await clock.advance(450)
  traffic.arrived()
  await clock.advance(QUIET_MIN_UNSEEN_MS + 200 - 450)
  cut.abort()
  t.same(await result, { why: 'cut short', at: QUIET_MIN_UNSEEN_MS + 200 }, 'on Kubernetes alone the quiet lasts 1000 ms at least')
})

await t.test('delay is the floor and maxDelay the bound, whatever the traffic says', async t => {
  const clock = fakeClock()
  const traffic = createTraffic(true, clock)
  traffic.begin(0)
  const floor = ended(clock, traffic.handOver(3000, 8000, never))
  await clock.advance(8000)
  t.same(await floor, { why: 'quiet', at: 3000 }, 'quiet long since, but not before delay')
  const busy = createTraffic(true, clock)
  busy.begin(0)
  busy.arrived()
  const bound = ended(clock, busy.handOver(0, 2000, never))
  for (let i = 0; i < 100; i++) {
    busy.arrived()
    await clock.advance(50)
  }
  t.same(await bound, { why: 'bound', at: 8000 + 2000 }, 'traffic that never stops: the bound')
})
