// Shutdown hooks with { phase: 'preDrain' }: at the start of the shutdown, before admission closes.
import t from 'tap'
import dc from 'node:diagnostics_channel'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { build, summary } from '../helpers/app.ts'
import { request } from '../helpers/http.ts'

t.test('app.close(): pre-drain hooks run first, in reverse order, while admission is still open', async t => {
  const { app, logs } = await build()
  const order: string[] = []
  app.addShutdownHook('close the db', () => { order.push('postDrain') })
  app.addShutdownHook('stop consuming', () => { order.push(`stop consuming, admission open: ${!app.shutdownSignal.aborted}`) }, { phase: 'preDrain' })
  app.addShutdownHook('deregister', () => { order.push(`deregister, admission open: ${!app.shutdownSignal.aborted}`) }, { phase: 'preDrain' })
  app.addShutdownHook('explicit default', () => { order.push('postDrain 2') }, { phase: 'postDrain' })
  await app.close()
  t.same(order, ['deregister, admission open: true', 'stop consuming, admission open: true', 'postDrain 2', 'postDrain'])
  t.match(logs.find(line => line.graceful?.hook === 'deregister'), { graceful: { phase: 'preDrain', outcome: 'ok' }, msg: /^pre-drain shutdown hook "deregister" ok after/ })
  t.match(summary(logs), { exitCode: 0, preDrainHooks: { ok: 2, failed: 0, timedOut: 0 }, hooks: { ok: 2 } })
  t.match(logs.find(line => line.graceful?.event === 'end')?.msg, /; pre-drain hooks 2 ok, 0 failed, 0 timed out$/)
})

t.test('app.drain() runs the pre-drain hooks too, once', async t => {
  const { app } = await build()
  let runs = 0
  app.addShutdownHook('deregister', () => { runs++ }, { phase: 'preDrain' })
  await app.drain()
  t.equal(runs, 1)
  await app.close()
  t.equal(runs, 1)
})

t.test('the same limits and isolation: a pre-drain hook that hangs or throws does not stop the shutdown', async t => {
  const { app, logs } = await build({ hookTimeout: 5000 })
  const ran: string[] = []
  app.addShutdownHook('after the drain', () => { ran.push('post') })
  app.addShutdownHook('throws', () => { throw new Error('consul unreachable') }, { phase: 'preDrain' })
  app.addShutdownHook('hangs', () => new Promise(() => {}), { phase: 'preDrain', timeout: 50 })
  const started = Date.now()
  await app.close()
  t.ok(Date.now() - started < 3000, 'its own limit held')
  t.same(ran, ['post'])
  t.match(summary(logs), { exitCode: 1, preDrainHooks: { ok: 0, failed: 1, timedOut: 1 }, hooks: { ok: 1, failed: 0, timedOut: 0 } })
})

t.test('pre-drain hooks cannot push the deadline, and do not shrink the time kept for the drain', async t => {
  const { app, logs } = await build({ timeout: 400, hookTimeout: 10_000 })
  app.addShutdownHook('hangs', () => new Promise(() => {}), { phase: 'preDrain' })
  const started = Date.now()
  await app.close()
  t.ok(Date.now() - started < 3000, 'well before hookTimeout (10 s)')
  t.match(summary(logs), { preDrainHooks: { timedOut: 1 } })
  t.ok(summary(logs)!.durationMs.preDrain < 400)
})

// The hooks' reserve, with a pre-drain hook that takes long: timeout 3000, a request that never answers, a post-drain hook with a 1000 ms limit that needs 800 ms.
for (const [preDrain, needs] of [['takes 1500 ms', 800], ['hangs to its bound', 750]] as const) {
  t.test(`a pre-drain hook that ${preDrain} leaves the post-drain hook its whole limit (its reserve)`, async t => {
    const { app, logs } = await build({ timeout: 3000 })
    const limits: Record<string, number> = {}
    const traces = { start: (message: any) => { limits[message.name] = message.limitMs } }
    dc.tracingChannel('fastify-graceful.shutdown.hook').subscribe(traces as never)
    t.teardown(() => dc.tracingChannel('fastify-graceful.shutdown.hook').unsubscribe(traces as never))
    app.get('/hang', () => { app.log.info('hanging'); return new Promise(() => {}) })
    app.addShutdownHook('close the db', async () => { await sleep(needs) }, { timeout: 1000 })
    app.addShutdownHook('deregister', async ({ signal }) => {
      await (preDrain === 'takes 1500 ms' ? sleep(1500) : once(signal, 'abort'))
    }, { phase: 'preDrain', timeout: 2000 })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const hung = request((app.server.address() as { port: number }).port, '/hang')
    while (!logs.some(line => line.msg === 'hanging')) await sleep(5)
    await app.close()
    await hung
    t.ok(limits['close the db'] > 900, `the post-drain hook's limit (${limits['close the db']} ms) is near its own 1000 ms`)
    t.match(summary(logs), { requests: { cut: 1 }, hooks: { ok: 1, timedOut: 0 } })
  })
}

t.test('the phase channel shows the pre-drain phase, the hook trace the hook\'s phase', async t => {
  const { app } = await build()
  const events: string[] = []
  const listener = (message: any): void => { if (message.fastify === app) events.push(`${message.phase}:${message.event}`) }
  dc.subscribe('fastify-graceful.shutdown.phase', listener)
  const traces = { asyncEnd: (message: any) => events.push(`trace ${message.name} ${message.phase}`) }
  dc.tracingChannel('fastify-graceful.shutdown.hook').subscribe(traces as never)
  t.teardown(() => {
    dc.unsubscribe('fastify-graceful.shutdown.phase', listener)
    dc.tracingChannel('fastify-graceful.shutdown.hook').unsubscribe(traces as never)
  })
  app.addShutdownHook('deregister', () => {}, { phase: 'preDrain' })
  app.waitUntil(Promise.resolve().then(() => new Promise(resolve => setImmediate(resolve))))
  await app.close()
  t.same(events.slice(0, 5), ['preDrain:start', 'trace deregister preDrain', 'preDrain:end', 'drain:start', 'drain:end'])
  t.ok(events.includes('hooks:start'))
})

t.test('a phase that does not exist is refused, naming the value', async t => {
  const { app } = await build()
  t.teardown(() => app.close())
  t.throws(() => app.addShutdownHook('deregister', () => {}, { phase: 'early' } as never), {
    code: 'FST_GRACEFUL_INVALID_HOOK',
    message: 'fastify-graceful: addShutdownHook "deregister: phase" must be "preDrain" or "postDrain", got \'early\''
  })
})
