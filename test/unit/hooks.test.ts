// The hooks' rules on a fake clock: each hook's limit, the overall deadline, the reserve; exact moments, no real wait.
import t from 'tap'
import { createHooks, type HookOutcome } from '../../lib/hooks.ts'
import { fakeClock } from '../helpers/fake-clock.ts'

const observe = (_name: string, _limit: number, run: () => Promise<HookOutcome>): Promise<HookOutcome> => run()
const hang = (): Promise<never> => new Promise(() => {})

t.test('a hook that hangs times out at its own limit, its signal aborts, and the next hook runs', async t => {
  const clock = fakeClock()
  const hooks = createHooks(1000, clock)
  let aborted: unknown
  const ran: number[] = []
  hooks.add('first registered', () => { ran.push(clock.now()) })
  hooks.add('stuck', ({ signal }: { signal: AbortSignal }) => new Promise(() => { signal.addEventListener('abort', () => { aborted = signal.reason }) }), { timeout: 300 })
  const outcomes = hooks.run('SIGTERM', 10_000, observe)
  await clock.advance(10_000)
  t.match(await outcomes, [
    { name: 'stuck', outcome: 'timeout', durationMs: 300, error: { code: 'FST_GRACEFUL_HOOK_TIMEOUT' } },
    { name: 'first registered', outcome: 'ok', durationMs: 0 }
  ])
  t.same(ran, [300], 'the next hook ran the moment the stuck one timed out')
  t.match(aborted, { message: /"stuck" did not finish within 300 ms/ })
})

t.test('the overall deadline cuts a hook short, and the hooks after it are skipped, not run', async t => {
  const clock = fakeClock()
  const hooks = createHooks(1000, clock)
  hooks.add('never runs', () => { t.fail('ran past the deadline') })
  hooks.add('also skipped', hang)
  hooks.add('cut by the deadline', hang)
  const outcomes = hooks.run('SIGTERM', 700, observe)
  await clock.advance(2000)
  t.match(await outcomes, [
    { name: 'cut by the deadline', outcome: 'timeout', durationMs: 700 },
    { name: 'also skipped', outcome: 'timeout', durationMs: 0, skipped: true },
    { name: 'never runs', outcome: 'timeout', durationMs: 0, skipped: true }
  ])
})

t.test('the reserve: the post-drain hooks\' limits added up, at most half the budget; pre-drain hooks not counted', async t => {
  const hooks = createHooks(1000, fakeClock())
  hooks.add('a', () => {})
  hooks.add('b', () => {}, { timeout: 2500 })
  hooks.add('deregister', () => {}, { phase: 'preDrain', timeout: 9000 })
  t.equal(hooks.reserve(20_000), 3500)
  t.equal(hooks.reserve(4000), 2000)
})
