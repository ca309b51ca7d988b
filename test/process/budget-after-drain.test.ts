// app.drain() gives the drain its budget; what comes later (app.close(), or a signal that ends in an exit) gets
// the whole `timeout` again from its own start, however long after the drain it comes.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { build, summary } from '../helpers/app.ts'
import { start, summaryOf } from '../helpers/child.ts'
import { request } from '../helpers/http.ts'

t.test('app.drain(), then app.close() longer than `timeout` later: the hooks run with their own time, exit code 0', async t => {
  const { app, logs } = await build({ timeout: 300, hookTimeout: 200 })
  const ran: string[] = []
  app.addShutdownHook('db', async () => { await sleep(20); ran.push('db') })
  app.addShutdownHook('cache', async () => { await sleep(20); ran.push('cache') })
  await app.drain()
  // The scenario itself: a test suite that drains, checks things for a while, then closes.
  await sleep(450)
  await app.close()
  t.same(ran, ['cache', 'db'], 'both hooks ran to the end')
  t.match(summary(logs), { cause: 'drain', exitCode: 0, hooks: { ok: 2, timedOut: 0 } })
})

t.test('the close still has a deadline of its own: a hook that hangs is cut within `timeout` of close()', async t => {
  const { app, logs } = await build({ timeout: 300, hookTimeout: 10_000 })
  app.addShutdownHook('stuck', () => new Promise(() => {}))
  await app.drain()
  await sleep(450)
  const closing = Date.now()
  await app.close()
  const took = Date.now() - closing
  t.ok(took >= 200 && took < 1500, `close() took ${took} ms (timeout 300 ms)`)
  t.match(summary(logs), { exitCode: 1, hooks: { timedOut: 1 } })
})

t.test('app.drain(), then SIGTERM long after: the signal starts the clock that ends in the exit', async t => {
  // A timeout with room for the exit's own work under CI load (coverage is written in the exit handlers, which the
  // watchdog times too); the signal comes later than a whole timeout after the drain.
  const child = await start('app.ts', { options: { timeout: 1500 }, hooks: [{ name: 'db', behaviour: 'ok', ms: 100 }] }, t)
  const drained = await request(child.ports[0]!, '/admin/drain', { method: 'POST' })
  t.equal(drained.status, 200)
  t.match(await child.waitFor(line => line.drained !== undefined), { cut: 0 })
  await sleep(1700)
  const sent = Date.now()
  child.process.kill('SIGTERM')
  const { code, at } = await child.exited()
  t.equal(code, 0)
  t.ok(at - sent < 2500, `exited ${at - sent} ms after the signal`)
  t.same(child.lines.filter(line => line.hook !== undefined).map(line => line.at), ['start', 'end'])
  t.match(summaryOf(child), { cause: 'drain', exitCode: 0, hooks: { ok: 1 } })
})
