// withTimeout: the one race against the clock (hooks, readiness checks, the drain, the work, the flush, close()).
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { withTimeout } from '../../lib/timeout.ts'

t.test('the work first: its value', async t => {
  t.same(await withTimeout(sleep(5, 'value'), 1000), { done: true, value: 'value' })
})

t.test('the time first: not done; a rejection after it is not unhandled', async t => {
  let late: (error: Error) => void = () => {}
  const work = new Promise((_resolve, reject) => { late = reject })
  t.same(await withTimeout(work, 5), { done: false })
  late(new Error('after the race'))
  await sleep(10)
  t.pass('no unhandled rejection ended the process')
})

t.test('a rejection before the time passes through; no time left means the next turn', async t => {
  await t.rejects(withTimeout(Promise.reject(new Error('failed')), 1000), { message: 'failed' })
  t.same(await withTimeout(new Promise(() => {}), -5), { done: false })
})
