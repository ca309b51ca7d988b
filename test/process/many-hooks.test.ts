// 1000 shutdown hooks that all hang: the deadline still holds. Once it is reached, the hooks left are not run, and
// they cost the exit no more than one log line between them.
import t from 'tap'
import { shutdownMs, start, summaryOf } from '../helpers/child.ts'

t.test('1000 hooks that all hang, timeout 3000: the process exits within its deadline, exit code 1', async t => {
  const hooks = Array.from({ length: 1000 }, (_, i) => ({ name: `hung ${i}`, behaviour: 'hang' as const }))
  const child = await start('app.ts', { options: { timeout: 3000 }, hooks }, t)
  child.process.kill('SIGTERM')
  const { code } = await child.exited(15_000)
  t.equal(code, 1)
  const ms = shutdownMs(child)
  t.ok(ms <= 3000 + 50, `exited ${ms} ms after the shutdown began (timeout 3000 ms)`)
  t.match(summaryOf(child), { hooks: { ok: 0, failed: 0, timedOut: 1000 } })
  t.equal(child.lines.filter(line => line.graceful?.event === 'hook').length, 1, 'one line for the hook that hung to the deadline')
  const skipped = child.lines.find(line => line.graceful?.event === 'hooks-skipped')
  t.match(skipped, { level: 50, graceful: { hooks: 999 }, msg: /^999 shutdown hook\(s\) not run: the deadline was reached before their turn \("main:hung 998", .*, …\)$/ })
})
