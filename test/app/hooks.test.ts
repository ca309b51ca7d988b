// Shutdown hooks: reverse order, after the last request, each within its own limit, isolated from each other.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { arrival, build, summary } from '../helpers/app.ts'
import { request } from '../helpers/http.ts'

t.test('hooks run in reverse registration order, from any encapsulated plugin, after the last request', async t => {
  const { app, logs } = await build()
  const { arrived, reached } = arrival()
  const order: string[] = []
  app.addShutdownHook('registered first', () => { order.push('first') })
  await app.register(async child => {
    child.addShutdownHook('registered in a child plugin', async () => { order.push('child') })
    child.get('/slow', async () => { arrived(); await sleep(100); order.push('response'); return 'done' })
  })
  app.addShutdownHook(function registeredLast () { order.push('last') })
  // A real connection: app.close() leaves inject() requests alone, as Fastify's own close() does.
  await app.listen({ port: 0, host: '127.0.0.1' })
  const slow = request((app.server.address() as { port: number }).port, '/slow')
  await reached
  await app.close()
  t.equal((await slow).status, 200)
  t.same(order, ['response', 'last', 'child', 'first'])
  t.same(logs.filter(line => line.graceful?.event === 'hook').map(line => line.graceful.hook), ['registeredLast', 'registered in a child plugin', 'registered first'])
  t.match(summary(logs), { cause: 'close', exitCode: 0, hooks: { ok: 3, failed: 0, timedOut: 0 } })
})

t.test('a hook gets an AbortSignal that aborts at its limit, and the next hook still runs', async t => {
  const { app, logs } = await build({ hookTimeout: 5000 })
  let aborted: unknown
  const ran: string[] = []
  app.addShutdownHook('after', () => { ran.push('after') })
  app.addShutdownHook('stuck', async ({ signal, cause }) => {
    t.equal(cause, 'close')
    await new Promise(resolve => signal.addEventListener('abort', resolve))
    aborted = signal.reason
    throw signal.reason
  }, { timeout: 50 })
  let lateDue!: Promise<void>
  app.addShutdownHook('late rejection', () => {
    lateDue = sleep(80)
    return lateDue.then(() => { throw new Error('rejected after its time was up') })
  }, { timeout: 20 })
  const started = Date.now()
  await app.close()
  t.ok(Date.now() - started < 3000, 'the limits held (the default would be 5 s)')
  t.match(aborted, { code: 'FST_GRACEFUL_HOOK_TIMEOUT', message: /"stuck" did not finish within 50 ms/ })
  t.same(ran, ['after'])
  t.match(summary(logs), { exitCode: 1, hooks: { ok: 1, timedOut: 2 } })
  // The late rejection must not surface as an unhandled rejection (tap would fail the test): Node reports one after the
  // microtasks of the turn it happened in.
  await lateDue
  await new Promise(resolve => setImmediate(resolve))
})

t.test('the default hook name and the default limit', async t => {
  const { app, logs } = await build({ hookTimeout: 30 })
  app.addShutdownHook(() => new Promise(() => {}))
  await app.close()
  const line = logs.find(line => line.graceful?.event === 'hook')
  t.match(line, { graceful: { hook: 'hook #1', outcome: 'timeout' }, err: { message: /within 30 ms/ } })
})

t.test('a hook that throws synchronously is logged and the others run', async t => {
  const { app, logs } = await build()
  const ran: string[] = []
  app.addShutdownHook('ok', () => { ran.push('ok') })
  app.addShutdownHook('sync throw', () => { throw new Error('sync boom') })
  await app.close()
  t.same(ran, ['ok'])
  t.match(logs.find(line => line.graceful?.hook === 'sync throw'), { level: 50, err: { message: 'sync boom' } })
  t.match(summary(logs), { exitCode: 1, hooks: { ok: 1, failed: 1 } })
})

t.test('no hook runs past the overall deadline: the hooks with no time left are reported in one line, not skipped silently', async t => {
  const { app, logs } = await build({ timeout: 200, hookTimeout: 10_000 })
  app.addShutdownHook('never started', () => { t.fail('must not run without time') })
  app.addShutdownHook('uses it all', () => new Promise(() => {}))
  const started = Date.now()
  await app.close()
  t.ok(Date.now() - started < 3000, 'well before hookTimeout (10 s)')
  t.same(logs.filter(line => line.graceful?.event === 'hook').map(line => [line.graceful.hook, line.graceful.outcome]), [['uses it all', 'timeout']])
  t.match(logs.find(line => line.graceful?.event === 'hooks-skipped'), { level: 50, graceful: { hooks: 1 }, msg: '1 shutdown hook(s) not run: the deadline was reached before their turn ("never started")' })
  t.match(summary(logs), { exitCode: 1, hooks: { ok: 0, failed: 0, timedOut: 2 } })
})

t.test('bad hooks are refused with a clear error', async t => {
  const { app } = await build()
  t.teardown(() => app.close())
  t.throws(() => app.addShutdownHook('db', 'not a function' as never), { code: 'FST_GRACEFUL_INVALID_HOOK', message: 'fastify-graceful: addShutdownHook "db" must be a function, got \'not a function\'' })
  t.throws(() => app.addShutdownHook(undefined as never), { code: 'FST_GRACEFUL_INVALID_HOOK', message: /"fn" must be a function, got undefined/ })
  t.throws(() => app.addShutdownHook('', () => {}), { message: /"name" must be a non-empty string, got ''/ })
  t.throws(() => app.addShutdownHook('db', () => {}, { timeout: -1 }), { code: 'FST_GRACEFUL_INVALID_OPTION', message: /"db: timeout" must be a number of milliseconds.*got -1/ })
  t.throws(() => app.addShutdownHook('db', () => {}, 5 as never), { message: /"db" must be given an options object, got 5/ })
  t.throws(() => app.addShutdownHook('db', () => {}, [] as never), { message: /"db" must be given an options object, got \[\]/ })
  t.throws(() => app.addShutdownHook('db', () => {}, { timout: 5 } as never), { message: /"db" must be given only the options "timeout" and "phase", got \{ timout: 5 \}/ })
})

t.test('a class is refused at registration: called without new at shutdown, it could only fail', async t => {
  const { app } = await build()
  t.teardown(() => app.close())
  class Pool { end (): void {} }
  t.throws(() => app.addShutdownHook(Pool as never), { code: 'FST_GRACEFUL_INVALID_HOOK', message: 'fastify-graceful: addShutdownHook "Pool" must be a function, not a class, got [class Pool]' })
  t.throws(() => app.addShutdownHook('pool', class {} as never), { code: 'FST_GRACEFUL_INVALID_HOOK', message: /"pool" must be a function, not a class/ })
  t.doesNotThrow(() => app.addShutdownHook('classy', function classic () {}), 'a function whose name starts with "class" is a function')
})

t.test('adding a hook once the shutdown began is an error, not a hook that never runs', async t => {
  const { app } = await build()
  t.teardown(() => app.close())
  await app.drain()
  t.throws(() => app.addShutdownHook('late', () => {}), { code: 'FST_GRACEFUL_HOOK_AFTER_SHUTDOWN', message: 'fastify-graceful: cannot add shutdown hook "late": shutdown already began (cause: drain)' })
})
