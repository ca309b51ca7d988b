// Real signals sent to real processes: the way a deploy ends a service.
import http from 'node:http'
import { closeReserve, exitMargin } from '../../lib/sequence.ts'
import t from 'tap'
import { shutdownMs, start, summaryOf } from '../helpers/child.ts'
import { request } from '../helpers/http.ts'

const hookLines = (lines: Array<Record<string, any>>): string[] => lines.filter(line => line.hook !== undefined).map(line => `${line.hook} ${line.at}`)

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`${signal} with a request in flight: it finishes with Connection: close, then the hooks run, exit 0`, async t => {
    const child = await start('app.ts', { hooks: [{ name: 'db', behaviour: 'ok' }, { name: 'queue', behaviour: 'ok', ms: 20 }] }, t)
    t.equal(child.ready.sigterm, 1, 'one SIGTERM listener, installed once the app is ready')
    const agent = new http.Agent({ keepAlive: true })
    t.teardown(() => agent.destroy())
    t.equal((await request(child.ports[0]!, '/', { agent })).status, 200)
    const inflight = request(child.ports[0]!, '/slow?ms=400', { agent })
    await child.waitFor(line => line.req?.url === '/slow?ms=400')
    const sentAt = Date.now()
    child.process.kill(signal)
    await child.waitFor(line => line.graceful?.event === 'start')
    const late = await request(child.ports[0]!, '/', { agent: new http.Agent() })
    const answer = await inflight
    const { code, at } = await child.exited()

    t.equal(answer.status, 200, 'the request in flight was answered')
    t.equal(answer.headers?.connection, 'close', 'and told the client not to reuse the connection')
    t.equal(late.status, undefined, 'a new connection during the drain gets no HTTP answer')
    // The port closed before the shutdown's first log line: refused, never accepted and reset.
    t.equal(late.error, 'ECONNREFUSED')
    t.equal(code, 0)
    t.ok(shutdownMs(child) < 1500, `exit ${shutdownMs(child)} ms after the shutdown began, not after the 72 s keep-alive timeout`)
    t.ok(at - sentAt < 5000, `(${at - sentAt} ms as the test runner saw it)`)
    t.same(hookLines(child.lines), ['main:queue start', 'main:queue end', 'main:db start', 'main:db end'], 'hooks in reverse order of registration')
    const responseIndex = child.lines.findIndex(line => line.response === '/slow?ms=400')
    const firstHookIndex = child.lines.findIndex(line => line.hook !== undefined)
    t.ok(responseIndex >= 0 && responseIndex < firstHookIndex, 'hooks start only after the last in-flight response was sent')
    const begin = child.lines.find(line => line.graceful?.event === 'start')!.graceful
    t.match(begin, { cause: signal, inflight: 1 })
    t.match(summaryOf(child), { cause: signal, exitCode: 0, requests: { drained: 1, cut: 0 }, hooks: { ok: 2, failed: 0, timedOut: 0 } })
  })
}

t.test('a request that never answers: 503 at the drain deadline, hooks still run, exit 1 within timeout', async t => {
  const child = await start('app.ts', { options: { timeout: 1500, hookTimeout: 300 }, hooks: [{ name: 'db', behaviour: 'ok' }] }, t)
  const hung = request(child.ports[0]!, '/hang')
  await child.waitFor(line => line.req?.url === '/hang')
  const sentAt = Date.now()
  child.process.kill('SIGTERM')
  const answer = await hung
  const { code, at } = await child.exited()
  t.equal(answer.status, 503, 'the hung request gets a clean 503, not a reset')
  t.equal(answer.headers?.['retry-after'], '1')
  t.equal(code, 1)
  t.ok(shutdownMs(child) <= 1500 + 50, `exited ${shutdownMs(child)} ms after the shutdown began (timeout 1500 ms)`)
  // The drain's share: timeout less the exit's margin, the close's reserve and the hooks' reserve (300 ms).
  const share = 1500 - exitMargin(1500) - closeReserve(1500) - 300
  t.ok(shutdownMs(child) >= share - 25, `the drain used its share of the budget (${share} ms)`)
  t.ok(at - sentAt < 1500 + 3000, `(${at - sentAt} ms as the test runner saw it)`)
  t.same(hookLines(child.lines), ['main:db start', 'main:db end'])
  t.match(summaryOf(child), { exitCode: 1, requests: { drained: 0, cut: 1 }, hooks: { ok: 1 } })
})

t.test('a hung hook and a throwing hook: each is logged, the others still run, exit 1', async t => {
  const child = await start('app.ts', {
    options: { hookTimeout: 5000 },
    hooks: [{ name: 'first', behaviour: 'ok' }, { name: 'hung', behaviour: 'hang', timeout: 200 }, { name: 'broken', behaviour: 'throw' }, { name: 'last', behaviour: 'ok' }]
  }, t)
  child.process.kill('SIGTERM')
  const { code } = await child.exited()
  t.equal(code, 1)
  t.same(hookLines(child.lines), ['main:last start', 'main:last end', 'main:broken start', 'main:hung start', 'main:first start', 'main:first end'])
  // The order is the one above, from the hooks themselves; each got its own log line with its outcome.
  const outcomes = Object.fromEntries(child.lines.filter(line => line.graceful?.event === 'hook').map(line => [line.graceful.hook, line.graceful.outcome]))
  t.same(outcomes, { 'main:last': 'ok', 'main:broken': 'failed', 'main:hung': 'timeout', 'main:first': 'ok' })
  const hung = child.lines.find(line => line.graceful?.hook === 'main:hung')!
  t.ok(hung.graceful.durationMs >= 150 && hung.graceful.durationMs < 2000, `the hung hook was given up after its own 200 ms limit (${hung.graceful.durationMs} ms)`)
  t.match(hung.err, { code: 'FST_GRACEFUL_HOOK_TIMEOUT' })
  t.match(child.lines.find(line => line.graceful?.hook === 'main:broken')!.err, { message: 'broken failed' })
  t.match(summaryOf(child), { exitCode: 1, hooks: { ok: 2, failed: 1, timedOut: 1 } })
})

t.test('a second signal during the shutdown exits at once with 1', async t => {
  const child = await start('app.ts', { hooks: [{ name: 'slow', behaviour: 'ok', ms: 5000 }] }, t)
  child.process.kill('SIGTERM')
  await child.waitFor(line => line.hook === 'main:slow' && line.at === 'start')
  const sentAt = Date.now()
  child.process.kill('SIGTERM')
  const { code, at } = await child.exited()
  t.equal(code, 1)
  const interrupted = child.lines.find(line => line.graceful?.event === 'interrupted')!
  const exit = child.lines.find(line => line.exit !== undefined)!
  t.ok(exit.time - interrupted.time < 200, `exited ${exit.time - interrupted.time} ms after the second signal`)
  t.ok(at - sentAt < 3000, `(${at - sentAt} ms as the test runner saw it)`)
  t.ok(child.lines.some(line => line.graceful?.event === 'interrupted' && line.graceful.cause === 'second SIGTERM'), 'the interruption is logged')
  t.notOk(child.lines.some(line => line.hook === 'main:slow' && line.at === 'end'))
})

t.test('an uncaught exception mid-request runs the same graceful sequence and exits 1', async t => {
  const child = await start('app.ts', { options: { timeout: 1500 }, hooks: [{ name: 'db', behaviour: 'ok' }] }, t)
  const agent = new http.Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())
  const slow = request(child.ports[0]!, '/slow?ms=200', { agent })
  const crashing = request(child.ports[0]!, '/crash')
  const { code } = await child.exited()
  const [slowAnswer, crashAnswer] = await Promise.all([slow, crashing])
  t.equal(code, 1)
  t.equal(slowAnswer.status, 200, 'the other request in flight still finished')
  t.equal(crashAnswer.status, 503, 'the request whose work crashed got a 503 at the drain deadline')
  const begin = child.lines.find(line => line.graceful?.event === 'start')!
  t.match(begin, { graceful: { cause: 'error' }, err: { message: 'boom from a timer' } })
  t.same(hookLines(child.lines), ['main:db start', 'main:db end'])
  t.match(summaryOf(child), { cause: 'error', exitCode: 1 })
})

t.test('SIGTERM during a shutdown an uncaught error started is the first signal: it joins, the shutdown completes', async t => {
  const child = await start('app.ts', { options: { timeout: 1500 }, hooks: [{ name: 'db', behaviour: 'ok' }] }, t)
  const crashing = request(child.ports[0]!, '/crash')
  await child.waitFor(line => line.graceful?.event === 'start')
  child.process.kill('SIGTERM')
  const { code } = await child.exited()
  t.equal(code, 1)
  t.equal((await crashing).status, 503, 'the request whose work crashed got its 503 at the drain deadline: no early exit')
  t.same(hookLines(child.lines), ['main:db start', 'main:db end'])
  t.match(summaryOf(child), { cause: 'error', exitCode: 1 })
  t.notOk(child.lines.some(line => line.graceful?.event === 'interrupted'), 'not taken for a second signal')
})

t.test('two instances in one process: one signal drains both, the process exits once with the worst code', async t => {
  const child = await start('app.ts', { second: true, options: { timeout: 1500, hookTimeout: 300 }, hooks: [{ name: 'db', behaviour: 'ok' }] }, t)
  t.equal(child.ready.sigterm, 1, 'the process has one SIGTERM listener for both instances')
  const [mainPort, adminPort] = child.ports as [number, number]
  const mainSlow = request(mainPort, '/slow?ms=300')
  const adminHung = request(adminPort, '/hang')
  await child.waitFor(line => line.req?.url === '/hang')
  child.process.kill('SIGTERM')
  const { code } = await child.exited()
  t.equal((await mainSlow).status, 200)
  t.equal((await adminHung).status, 503)
  t.equal(code, 1, 'the admin instance hit its deadline, so the process exits 1')
  t.match(summaryOf(child, 'main'), { exitCode: 0, requests: { drained: 1 } })
  t.match(summaryOf(child, 'admin'), { exitCode: 1, requests: { cut: 1 } })
  t.equal(child.lines.filter(line => line.exit !== undefined).length, 1, 'one exit')
  t.same(hookLines(child.lines).sort(), ['admin:db end', 'admin:db start', 'main:db end', 'main:db start'])
})

t.test('exit: false runs the shutdown but leaves the exit to the event loop', async t => {
  const child = await start('app.ts', { options: { exit: false }, hooks: [{ name: 'db', behaviour: 'ok' }] }, t)
  child.process.kill('SIGTERM')
  const { code } = await child.exited()
  t.equal(code, 0, 'the process ended by itself once the server was closed')
  t.match(summaryOf(child), { exitCode: 0 })
})

t.test('exit: false and a crash: the shutdown runs, and the process is left to end by itself', async t => {
  const child = await start('app.ts', { options: { exit: false, timeout: 2000 }, hooks: [{ name: 'db', behaviour: 'ok' }] }, t)
  await request(child.ports[0]!, '/crash')
  const { code } = await child.exited()
  t.equal(code, 0, 'no exit code of the plugin\'s: the process ended by itself once the server was closed')
  t.match(summaryOf(child), { cause: 'error', exitCode: 1 })
})

t.test('signals: false installs no process listener; signals: [] handles crashes only', async t => {
  const none = await start('app.ts', { options: { signals: false } }, t)
  t.equal(none.ready.sigterm, 0)
  none.process.kill('SIGTERM')
  t.equal((await none.exited()).signal, 'SIGTERM', 'the default signal behaviour is untouched')

  const crashOnly = await start('app.ts', { options: { signals: [], timeout: 1000 } }, t)
  t.equal(crashOnly.ready.sigterm, 0)
  await request(crashOnly.ports[0]!, '/crash')
  t.equal((await crashOnly.exited()).code, 1)
  t.match(summaryOf(crashOnly), { cause: 'error' })
})

t.test('when another plugin\'s onClose hook fails, the shutdown still completes and exits 1', async t => {
  const child = await start('app.ts', { failingOnClose: true, hooks: [{ name: 'db', behaviour: 'ok' }] }, t)
  child.process.kill('SIGTERM')
  const { code } = await child.exited()
  t.equal(code, 1)
  t.match(child.lines.find(line => line.msg === 'fastify.close() failed during the graceful shutdown'), { err: { message: 'an onClose hook of another plugin failed' } })
  t.same(hookLines(child.lines), ['main:db start', 'main:db end'])
  t.match(summaryOf(child), { exitCode: 1, hooks: { ok: 1 } }, 'the summary, logged once fastify.close() is over, says so')
})

for (const exit of [true, false]) {
  t.test(`another plugin's onClose hook that never settles (exit: ${exit}): logged, the summary written by the deadline`, async t => {
    // timeout 4000: the close is cut 200 ms before the deadline, 300 ms before the watchdog's; room under CI load.
    // With exit: false there is no watchdog, and the process ends by itself once the summary is out.
    const options = { timeout: 4000, exit }
    const child = await start('app.ts', { failingOnClose: 'hang', options, hooks: [{ name: 'db', behaviour: 'ok' }] }, t)
    child.process.kill('SIGTERM')
    const { code } = await child.exited()
    t.equal(code, exit ? 1 : 0, exit ? 'exit 1' : 'the process ended by itself')
    t.same(hookLines(child.lines), ['main:db start', 'main:db end'], 'the shutdown hooks ran before it')
    t.match(child.lines.find(line => line.graceful?.event === 'close'), { level: 50, msg: /fastify\.close\(\) was still running at the deadline/ })
    t.match(summaryOf(child), { exitCode: 1, hooks: { ok: 1, failed: 0 } })
  })
}
