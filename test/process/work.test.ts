// Real signals to a real process: work that outlives its response, and cleanup before the drain.
import t from 'tap'
import { start, type Child } from '../helpers/child.ts'
import { request } from '../helpers/http.ts'

const summaryOf = (child: Child): Record<string, any> | undefined => child.lines.find(line => line.graceful?.event === 'end')?.graceful
const index = (lines: Array<Record<string, any>>, match: (line: Record<string, any>) => boolean): number => lines.findIndex(match)

t.test('SIGTERM: the email sent after the response is finished before the hooks run, exit 0', async t => {
  const child = await start('work.ts', { emailMs: 400, jobMs: 300 }, t)
  t.equal((await request(child.ports[0]!, '/signup', { method: 'POST' })).status, 200)
  await child.waitFor(line => line.work === 'email' && line.at === 'start')
  child.process.kill('SIGTERM')
  const { code } = await child.exited()
  t.equal(code, 0)
  const emailEnd = index(child.lines, line => line.work === 'email' && line.at === 'end')
  const jobEnd = index(child.lines, line => line.work === 'job' && line.at === 'end')
  const hook = index(child.lines, line => line.hook === 'close the mailer')
  t.ok(emailEnd >= 0 && emailEnd < hook, 'the email was sent before the hooks ran')
  t.ok(jobEnd >= 0 && jobEnd < hook, 'the queue job (app.waitUntil) finished before the hooks ran')
  t.match(summaryOf(child), { exitCode: 0, work: { finished: 2, failed: 0, cut: 0 } })
  t.match(child.lines.find(line => line.graceful?.event === 'end')?.msg, /work 2 finished, 0 failed, 0 cut/)
})

t.test('SIGTERM: work still running at the drain deadline is cut and counted, the hooks still run, exit 1', async t => {
  const child = await start('work.ts', { emailMs: -1, options: { timeout: 600, hookTimeout: 100 } }, t)
  t.equal((await request(child.ports[0]!, '/signup', { method: 'POST' })).status, 200)
  await child.waitFor(line => line.work === 'email' && line.at === 'start')
  child.process.kill('SIGTERM')
  const { code } = await child.exited()
  t.equal(code, 1)
  t.ok(index(child.lines, line => line.hook === 'close the mailer') >= 0, 'the hooks ran after the work was cut')
  t.notOk(child.lines.some(line => line.work === 'email' && line.at === 'end'))
  const summary = summaryOf(child)!
  t.match(summary, { exitCode: 1, requests: { cut: 0 }, work: { finished: 0, failed: 0, cut: 1 } })
  t.ok(summary.durationMs.total < 600, `the work did not push the deadline: ${summary.durationMs.total} ms`)
})

t.test('SIGTERM: a pre-drain hook runs at the signal, while admission is still open', async t => {
  const child = await start('work.ts', { preDrain: true, options: { delay: 0 } }, t)
  child.process.kill('SIGTERM')
  const { code } = await child.exited()
  t.equal(code, 0)
  const deregistered = child.lines.find(line => line.hook === 'deregister from Consul')
  t.match(deregistered, { admitted: 200, shuttingDown: true }, 'its own request was still admitted')
  const served = index(child.lines, line => line.response === '/')
  t.ok(served >= 0, 'its request was answered')
  t.ok(index(child.lines, line => line.graceful?.event === 'hook' && line.graceful.phase === 'preDrain') < index(child.lines, line => line.hook === 'close the mailer'))
  t.match(child.lines.find(line => line.graceful?.hook === 'deregister from Consul'), { msg: /^pre-drain shutdown hook "deregister from Consul" ok/ })
  t.match(summaryOf(child), { exitCode: 0, preDrainHooks: { ok: 1, failed: 0, timedOut: 0 }, hooks: { ok: 1 } })
})

t.test('SIGTERM with a delay window: admission closes only once the delay and the slower pre-drain hook are both done', async t => {
  const child = await start('work.ts', { preDrain: true, preDrainMs: 400, options: { delay: 100, timeout: 5000 } }, t)
  child.process.kill('SIGTERM')
  const { code } = await child.exited()
  t.equal(code, 0)
  t.match(child.lines.find(line => line.hook === 'deregister from Consul'), { admitted: 200 }, 'served 400 ms after the signal, past the 100 ms delay')
  const summary = summaryOf(child)!
  t.ok(summary.durationMs.preDrain >= 350, `the pre-drain hook took ${summary.durationMs.preDrain} ms`)
  t.ok(summary.durationMs.delay < summary.durationMs.preDrain, 'the delay window ended first')
})
