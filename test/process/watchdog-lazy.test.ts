// The watchdog thread costs an idle shutdown nothing: it starts before anything of the user's can block (a hook, a
// request in flight), and a quiet shutdown gets it only if it is still running a moment later (lib/signals.ts).
import t from 'tap'
import { WATCHDOG_LATE_MS } from '../../lib/signals.ts'
import { start } from '../helpers/child.ts'
import http from 'node:http'
import { request } from '../helpers/http.ts'

const DEADLINE_LINE = /fastify-graceful: the graceful shutdown was still running at its deadline \(timeout 2000 ms\)/

t.test('nothing in flight, no hook: exit 0 and no thread started', async t => {
  const child = await start('app.ts', { options: { timeout: 2000 }, watchThreads: true }, t)
  // An idle keep-alive connection is nothing to wait for: it is closed at once.
  const agent = new http.Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())
  t.equal((await request(child.ports[0], '/', { agent })).status, 200)
  child.process.kill('SIGTERM')
  const { code } = await child.exited(10_000)
  t.equal(code, 0)
  // On a loaded machine the shutdown itself may outlast the moment (WATCHDOG_LATE_MS): then the thread comes that late,
  // after the shutdown's first line, not at the signal (before it, as with a hook). Lines are written in order.
  const began = child.lines.findIndex(line => line.graceful?.event === 'start')
  const thread = child.lines.findIndex(line => line.thread === 'started')
  t.ok(thread === -1 || thread > began,
    thread === -1 ? 'no watchdog thread' : `the thread came late (line ${thread}, the start line ${began}), after ${WATCHDOG_LATE_MS} ms`)
})

t.test('a shutdown hook: the thread starts before it runs', async t => {
  const child = await start('app.ts', { options: { timeout: 2000 }, watchThreads: true, hooks: [{ name: 'db', behaviour: 'ok' }] }, t)
  child.process.kill('SIGTERM')
  const { code } = await child.exited(10_000)
  t.equal(code, 0)
  const started = child.lines.findIndex(line => line.thread === 'started')
  const hook = child.lines.findIndex(line => line.hook === 'main:db' && line.at === 'start')
  t.ok(started >= 0 && started < hook, `the thread started (line ${started}) before the hook ran (line ${hook})`)
})

t.test('a request in flight: the thread starts at the signal', async t => {
  const child = await start('app.ts', { options: { timeout: 2000 }, watchThreads: true }, t)
  const answer = request(child.ports[0], '/slow?ms=300')
  await child.waitFor(line => line.msg === 'incoming request')
  child.process.kill('SIGTERM')
  t.equal((await answer).status, 200)
  t.equal((await child.exited(10_000)).code, 0)
  const started = child.lines.findIndex(line => line.thread === 'started')
  const began = child.lines.findIndex(line => line.graceful?.event === 'start')
  t.ok(started >= 0 && started < began, `the thread started (line ${started}) before the shutdown's first line (${began})`)
})

t.test(`a quiet shutdown still running ${WATCHDOG_LATE_MS} ms on (another plugin's onClose spins later): exit 1 at the deadline`, async t => {
  const child = await start('app.ts', { options: { timeout: 2000 }, watchThreads: true, spinningOnClose: 200 }, t)
  const sent = Date.now()
  child.process.kill('SIGTERM')
  const { code, signal, at } = await child.exited(10_000)
  t.same({ code, signal }, { code: 1, signal: null })
  t.ok(at - sent >= 1900 && at - sent < 3500, `at the deadline (${at - sent} ms)`)
  t.match(child.stderr(), DEADLINE_LINE)
  const started = child.lines.findIndex(line => line.thread === 'started')
  t.ok(started >= 0 && started < child.lines.findIndex(line => line.onClose === 'spins'), 'armed before the spin')
})
