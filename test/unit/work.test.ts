// The work's rules on a fake clock: waited for until the deadline, then cut; exact moments, no real wait.
import t from 'tap'
import type { Progress } from '../../lib/phase.ts'
import { createWork } from '../../lib/work.ts'
import { fakeClock } from '../helpers/fake-clock.ts'

const log = { warn () {}, error () {} } as never
// Admission has closed: settled work is counted for the summary.
const draining = (): Progress => ({ phase: 'draining', cause: 'SIGTERM', closeCalled: false })

t.test('work is waited for until the deadline; what is left then is cut, and later work is not waited for', async t => {
  const clock = fakeClock()
  const work = createWork(clock, draining)
  const phases: string[] = []
  work.add(clock.sleep(200), 'app', log)
  work.add(new Promise(() => {}), 'app', log)
  const waited = work.waitFor(1000, event => phases.push(`${event} at ${clock.now()}`), true)
  await clock.advance(5000)
  t.same(await waited, { finished: 1, failed: 0, cut: 1 })
  t.same(phases, ['start at 0', 'end at 1000'], 'the wait ended at the deadline, not before, not after')
  t.same(await work.waitFor(9000, () => t.fail('no second wait'), true), { finished: 1, failed: 0, cut: 1 })
})

t.test('work that ends before the deadline ends the wait at once', async t => {
  const clock = fakeClock()
  const work = createWork(clock, draining)
  work.add(clock.sleep(300).then(() => { work.add(clock.sleep(100), 'app', log) }), 'app', log)
  let endedAt = -1
  const waited = work.waitFor(5000, event => { if (event === 'end') endedAt = clock.now() }, true)
  await clock.advance(5000)
  t.same(await waited, { finished: 2, failed: 0, cut: 0 })
  t.equal(endedAt, 400, 'the work it added was waited for too')
})
