// Errors during a shutdown stay graceful: they are logged with their stack and make the exit code 1,
// while the drain and the hooks go on within the deadline. Only a second signal ends the process at once.
import t from 'tap'
import { start, summaryOf } from '../helpers/child.ts'
import { request } from '../helpers/http.ts'

const hookLines = (lines: Array<Record<string, any>>): string[] => lines.filter(line => line.hook !== undefined).map(line => `${line.hook} ${line.at}`)
const uncaught = (lines: Array<Record<string, any>>): Array<Record<string, any>> => lines.filter(line => line.graceful?.event === 'uncaught')

t.test('a handler that throws mid-drain: logged with its stack, the drain and the hooks go on, exit 1', async t => {
  const child = await start('app.ts', { options: { timeout: 3000 }, hooks: [{ name: 'db', behaviour: 'ok' }] }, t)
  const slow = request(child.ports[0]!, '/slow?ms=400')
  const throwing = request(child.ports[0]!, '/throws-later')
  await child.waitFor(line => line.req?.url === '/throws-later')
  child.process.kill('SIGTERM')
  const { code } = await child.exited()
  t.equal(code, 1, 'the error marks the exit code')
  t.equal((await slow).status, 200, 'the other request in flight finished')
  t.equal((await throwing).status, 200, 'the request whose timer threw still answered')
  const [logged] = uncaught(child.lines)
  t.match(logged, { level: 50, err: { message: 'a handler threw mid-drain', stack: /Error: a handler threw mid-drain\n\s+at / } })
  t.same(hookLines(child.lines), ['main:db start', 'main:db end'], 'the hooks ran')
  t.match(summaryOf(child), { cause: 'SIGTERM', exitCode: 1, requests: { drained: 2, cut: 0 } })
  t.notOk(child.lines.some(line => line.graceful?.event === 'interrupted'), 'nothing ended the process early')
})

t.test('a timer in a hook throws and a hook leaves a rejection unhandled: every hook still runs, exit 1', async t => {
  const child = await start('app.ts', {
    hooks: [{ name: 'queue', behaviour: 'ok' }, { name: 'db', behaviour: 'rejects unhandled', ms: 50 }, { name: 'cache', behaviour: 'timer throws', ms: 50 }]
  }, t)
  child.process.kill('SIGTERM')
  const { code } = await child.exited()
  t.equal(code, 1)
  t.same(hookLines(child.lines), ['main:cache start', 'main:cache end', 'main:db start', 'main:db end', 'main:queue start', 'main:queue end'])
  t.same(uncaught(child.lines).map(line => line.err.message).sort(), ['a timer in cache threw', 'db left a rejection unhandled'])
  t.match(summaryOf(child), { exitCode: 1, hooks: { ok: 3 } })
})

t.test('a crash loop during the shutdown: the exit still comes by the deadline, the log stays bounded', async t => {
  const child = await start('app.ts', { options: { timeout: 1000 }, hooks: [{ name: 'cache', behaviour: 'ok', ms: 100 }, { name: 'poller', behaviour: 'crash loop' }] }, t)
  const sent = Date.now()
  child.process.kill('SIGTERM')
  const { code, at } = await child.exited()
  t.equal(code, 1)
  t.ok(at - sent < 3000, `exited ${at - sent} ms after the signal (timeout 1000 ms)`)
  t.same(hookLines(child.lines), ['main:poller start', 'main:poller end', 'main:cache start', 'main:cache end'])
  const logged = uncaught(child.lines)
  t.ok(logged.length >= 2 && logged.length <= 11, `${logged.length} lines for the loop`)
  t.match(logged[0], { err: { message: 'crash loop', stack: /crash loop/ } })
})

t.test('an uncaught error starts the shutdown; a second one no longer ends it at once', async t => {
  const child = await start('app.ts', { hooks: [{ name: 'db', behaviour: 'ok', ms: 300 }], options: { timeout: 2000 } }, t)
  await request(child.ports[0]!, '/crash-twice', { timeout: 3000 })
  const { code } = await child.exited()
  t.equal(code, 1)
  t.match(child.lines.find(line => line.graceful?.event === 'start'), { graceful: { cause: 'error' }, err: { message: 'first crash' } })
  t.match(uncaught(child.lines), [{ err: { message: 'second crash', stack: /second crash/ } }])
  t.same(hookLines(child.lines), ['main:db start', 'main:db end'], 'the hooks ran to the end')
  t.match(summaryOf(child), { cause: 'error', exitCode: 1 })
})

t.test('a second signal still ends the process at once, after an error during the shutdown', async t => {
  const child = await start('app.ts', { hooks: [{ name: 'slow', behaviour: 'ok', ms: 5000 }, { name: 'cache', behaviour: 'timer throws' }], options: { timeout: 8000 } }, t)
  child.process.kill('SIGTERM')
  await child.waitFor(line => line.graceful?.event === 'uncaught')
  await child.waitFor(line => line.hook === 'main:slow' && line.at === 'start')
  child.process.kill('SIGTERM')
  const { code } = await child.exited()
  t.equal(code, 1)
  t.ok(child.lines.some(line => line.graceful?.event === 'interrupted' && line.graceful.cause === 'second SIGTERM'))
  t.notOk(child.lines.some(line => line.hook === 'main:slow' && line.at === 'end'))
})

t.test('a diagnostics_channel subscriber that throws never breaks the shutdown', async t => {
  const child = await start('app.ts', { throwingSubscriber: true, options: { timeout: 3000 }, hooks: [{ name: 'db', behaviour: 'ok', ms: 50 }] }, t)
  const slow = request(child.ports[0]!, '/slow?ms=300')
  await child.waitFor(line => line.req?.url === '/slow?ms=300')
  child.process.kill('SIGTERM')
  const { code } = await child.exited()
  t.equal(code, 0, 'the exit code is the shutdown\'s own')
  t.equal((await slow).status, 200)
  t.same(hookLines(child.lines), ['main:db start', 'main:db end'])
  t.match(summaryOf(child), { exitCode: 0 })
  const warned = child.lines.filter(line => line.graceful?.event === 'subscriber-error')
  t.ok(warned.length >= 3, `${warned.length} subscriber errors logged`)
  t.match(warned[0], { level: 40, err: { message: 'subscriber to start threw', stack: /subscriber to start threw/ } })
  t.equal(uncaught(child.lines).length, 0)
})

t.test('a subscriber that throws during app.close() (no signal) is logged and starts no crash shutdown', async t => {
  const child = await start('app.ts', { throwingSubscriber: true, hooks: [{ name: 'db', behaviour: 'ok' }] }, t)
  const answer = await request(child.ports[0]!, '/admin/close', { method: 'POST' })
  t.equal(answer.status, 200)
  const { code } = await child.exited()
  t.equal(code, 0, 'the process ended by itself once the server closed')
  t.same(hookLines(child.lines), ['main:db start', 'main:db end'])
  t.match(summaryOf(child), { cause: 'close', exitCode: 0 })
  t.ok(child.lines.some(line => line.graceful?.event === 'subscriber-error'))
  t.notOk(child.lines.some(line => line.graceful?.cause === 'error'), 'no shutdown started by an error')
})
