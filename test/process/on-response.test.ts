// A request is done when Fastify is done with it: its async onResponse hooks finish before the exit.
import t from 'tap'
import { start } from '../helpers/child.ts'
import { request } from '../helpers/http.ts'
import { watchOnResponse } from '../../lib/on-response.ts'

t.test('SIGTERM with a request in flight: its async onResponse hook, its log line and its waitUntil() work all finish', async t => {
  const child = await start('on-response.ts', {}, t)
  const answer = request(child.ports[0], '/slow')
  await child.waitFor(line => line.handler === 'start')
  child.process.kill('SIGTERM')
  t.equal((await answer).status, 200)
  t.equal((await child.exited()).code, 0)
  const seen = (match: (line: Record<string, any>) => boolean): number => child.lines.findIndex(match)
  const hook = seen(line => line.onResponse === '/slow')
  const completed = seen(line => line.msg === 'request completed' && line.res?.statusCode === 200)
  const work = seen(line => line.work === 'metrics pushed')
  const shutdownHook = seen(line => line.hook === 'close the metrics client')
  t.ok(hook >= 0, 'the onResponse hook finished')
  t.ok(completed > hook, 'Fastify logged the request as completed, after its hook')
  t.ok(work > hook, 'the work handed to waitUntil() in the hook, after its await, was waited for')
  t.ok(shutdownHook > work, 'the shutdown hooks ran after all of it')
  t.match(child.lines.find(line => line.graceful?.event === 'end')?.graceful, { exitCode: 0, requests: { drained: 1, cut: 0 }, work: { finished: 1 } })
})

t.test('an onResponse hook that never ends is waited for until the drain deadline only', async t => {
  const child = await start('on-response.ts', { onResponseMs: -1, options: { timeout: 1000 } }, t)
  const answer = request(child.ports[0], '/slow')
  await child.waitFor(line => line.handler === 'start')
  child.process.kill('SIGTERM')
  t.equal((await answer).status, 200, 'the client has its answer')
  t.equal((await child.exited()).code, 1)
  t.match(child.lines.find(line => line.graceful?.event === 'end')?.graceful, { requests: { drained: 0, cut: 1 }, hooks: { ok: 1 } })
})

t.test('where Fastify\'s internals are not as expected, a request is done when its response closes, as before', async t => {
  const res = { listeners: () => [function onResFinished () {}] }
  const missing = watchOnResponse({})
  missing.watch(() => t.fail('never called'))
  t.equal(missing.awaited(res), false, 'no log controller found')
  const frozen = watchOnResponse({ [Symbol('fastify.logController')]: Object.freeze({ requestCompleted () {} }) })
  frozen.watch(() => t.fail('never called'))
  t.equal(frozen.awaited(res), false, 'a log controller that cannot be wrapped')
})
