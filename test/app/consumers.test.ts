// app.addConsumer(): a queue consumer stops taking work at the first moment of a shutdown, what it holds is waited for
// until the drain deadline (then handed back), and its close() runs with the shutdown hooks.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { build, summary } from '../helpers/app.ts'

/** A consumer over an in-memory queue: `held` jobs run until they finish or are handed back. */
function fakeWorker (jobMs: number, held = 2, handBackMs = 0) {
  const events: string[] = []
  const queue: string[] = []
  const controller = new AbortController()
  let paused = false
  const running = new Set<Promise<void>>()
  const take = (id: string): void => {
    const job = sleep(jobMs, undefined, { signal: controller.signal }).then(
      () => { events.push(`done ${id}`) },
      // Handing a job back is a round trip to its queue.
      () => sleep(handBackMs).then(() => { queue.push(id); events.push(`handed back ${id}`) })
    ).finally(() => running.delete(job))
    running.add(job)
  }
  for (let i = 1; i <= held; i++) take(`job${i}`)
  return {
    events,
    queue,
    take (id: string) { if (paused) queue.push(id); else take(id) },
    pause: async () => { paused = true; events.push('paused'); await Promise.all(running) },
    cancel: () => { events.push('cancel'); controller.abort() },
    close: async () => { events.push('closed') }
  }
}

t.test('paused at the first moment, its jobs waited for before the hooks, then closed as a hook', async t => {
  const { app, logs } = await build({ timeout: 5000 })
  const worker = fakeWorker(150)
  const order: string[] = []
  app.addShutdownHook('db pool', () => { order.push(...worker.events, 'pool') })
  app.addConsumer('orders', worker)
  const draining = app.drain()
  t.ok(app.isShuttingDown)
  await Promise.resolve()
  worker.take('late job')
  t.same(worker.events, ['paused'], 'paused at once, while its jobs still run')
  await draining
  await app.close()
  t.same(order, ['paused', 'done job1', 'done job2', 'closed', 'pool'], 'its jobs, its close, then the hook registered before it')
  t.same(worker.queue, ['late job'], 'nothing taken once paused')
  t.match(summary(logs), { exitCode: 0, hooks: { ok: 2 } })
})

t.test('still busy at the drain deadline: cancel() is called; the jobs go back to the queue', async t => {
  // The hand-back gets at most half the hooks' reserve (400 ms here): 80 ms a job is well within it.
  const { app, logs } = await build({ timeout: 2000, hookTimeout: 400 })
  const worker = fakeWorker(60_000, 2, 80)
  app.addConsumer('orders', worker)
  const started = Date.now()
  await app.close()
  t.ok(Date.now() - started < 3000, 'bounded by the deadline')
  t.same(worker.events, ['paused', 'cancel', 'handed back job1', 'handed back job2', 'closed'],
    'its close() waited for the jobs to be handed back')
  t.same(worker.queue, ['job1', 'job2'], 'handed back, for the next instance')
  t.match(logs.find(line => line.graceful?.event === 'consumer'), {
    level: 40, graceful: { consumer: 'orders', outcome: 'cancelled' }, msg: /still had work at the drain deadline/
  })
  t.match(summary(logs), { exitCode: 1, work: { cut: 1 } }, 'a shutdown that cut work says so')
})

t.test('app.drain() pauses the consumers too; close() closes them', async t => {
  const { app } = await build()
  const worker = fakeWorker(20)
  app.addConsumer('orders', worker)
  await app.drain()
  t.same(worker.events, ['paused', 'done job1', 'done job2'], 'drain() waited for its jobs')
  await app.close()
  t.same(worker.events.at(-1), 'closed')
})

t.test('a pause() that throws or rejects is logged and counted; a cancel() that fails is logged', async t => {
  const { app, logs } = await build({ timeout: 400, hookTimeout: 100 })
  app.addConsumer('throws', { pause: () => { throw new Error('redis is gone') } })
  app.addConsumer('hangs', { pause: () => new Promise(() => {}), cancel: () => { throw new Error('cannot cancel') } })
  await app.close()
  t.match(logs.filter(line => line.graceful?.event === 'work'), [
    { level: 50, err: { message: 'redis is gone' }, msg: 'consumer "throws": pause() failed' }
  ])
  t.match(logs.find(line => line.graceful?.event === 'consumer'), {
    level: 50, graceful: { consumer: 'hangs', outcome: 'failed' }, err: { message: 'cannot cancel' }
  })
  t.match(summary(logs), { exitCode: 1, work: { failed: 1, cut: 1 } })
})

t.test('a pause that settles before admission closes is not counted as work', async t => {
  const { app, logs } = await build()
  app.addConsumer('quick', { pause: () => {} })
  await app.close()
  t.match(summary(logs), { exitCode: 0, hooks: { ok: 0 } })
  t.equal(logs.filter(line => line.graceful?.event === 'hook').length, 0, 'no close(): no hook')
})

t.test('bad consumers are refused at registration, naming what is wrong', async t => {
  const { app } = await build()
  t.teardown(() => app.close())
  const add = app.addConsumer as (...args: unknown[]) => void
  t.throws(() => add('', { pause () {} }), { code: 'FST_GRACEFUL_INVALID_CONSUMER', message: /"name" must be a non-empty string, got ''/ })
  t.throws(() => add(42, { pause () {} }), { message: /"name" must be a non-empty string, got 42/ })
  t.throws(() => add('orders', null), { message: /"orders" must be an object \{ pause, cancel\?, close\? \}, got null/ })
  t.throws(() => add('orders', [() => {}]), { message: /must be an object/ })
  t.throws(() => add('orders', {}), { message: /"orders: pause" must be a function, got undefined/ })
  t.throws(() => add('orders', { pause () {}, close: 'soon' }), { message: /"orders: close" must be a function or undefined, got 'soon'/ })
  t.throws(() => add('orders', { pause () {}, cancel: 1 }), { message: /"orders: cancel" must be a function or undefined, got 1/ })
  t.throws(() => add('orders', { pause () {} }, { timeout: 10 }), { message: /"orders" must be given close\(\) for its options/ })
  t.throws(() => add('orders', { pause () {}, close () {} }, { timeout: -1 }), { code: 'FST_GRACEFUL_INVALID_OPTION', message: /orders: timeout/ })
})

t.test('adding a consumer once the shutdown began is an error, not a consumer that never pauses', async t => {
  const { app } = await build()
  const draining = app.drain()
  t.throws(() => app.addConsumer('late', { pause () {} }), {
    code: 'FST_GRACEFUL_CONSUMER_AFTER_SHUTDOWN', message: /cannot add consumer "late": shutdown already began \(cause: drain\)/
  })
  await draining
  await app.close()
})

t.test('work that keeps arriving after admission closed (a consumer nobody stopped) is named in a warning', async t => {
  const { app, logs } = await build({ timeout: 3000 })
  let jobs = 0
  const more = (): void => {
    if (jobs++ < 5) app.waitUntil(sleep(20).then(more))
  }
  more()
  await app.close()
  const arriving = logs.filter(line => line.graceful?.outcome === 'arriving')
  t.equal(arriving.length, 1, 'said once')
  t.match(arriving[0], { level: 40, msg: /new work is still being taken after admission closed.*app\.addConsumer\(\)/ })
  t.match(summary(logs), { exitCode: 0, work: { cut: 0 } })
})

t.test('a failing hook is logged with the order it ran in: the first place to look when a client was closed early', async t => {
  const { app, logs } = await build()
  let poolEnded = false
  app.addShutdownHook('worker', () => { if (poolEnded) throw new Error('Cannot use a pool after calling end on the pool') })
  app.addShutdownHook('pool', () => { poolEnded = true })
  await app.close()
  t.match(logs.find(line => line.graceful?.hook === 'worker'), {
    level: 50,
    graceful: { outcome: 'failed', ranBefore: ['pool'] },
    msg: /^shutdown hook "worker" failed after \d+ ms \(it ran after "pool" \(hooks run in reverse order of registration\)\): Cannot use a pool after calling end on the pool$/
  })
  t.match(summary(logs), { exitCode: 1, hooks: { ok: 1, failed: 1 } })
})

t.test('a consumer cut by app.drain() is cancelled once, not again by the close() that follows', async t => {
  const { app, logs } = await build({ timeout: 600, hookTimeout: 100 })
  let cancels = 0
  app.addConsumer('orders', { pause: () => new Promise(() => {}), cancel: () => { cancels++ } })
  await app.drain()
  await app.close()
  t.equal(cancels, 1)
  t.equal(logs.filter(line => line.graceful?.event === 'consumer').length, 1)
})

t.test('a hook that throws something other than an Error: its line names the order, and nothing else is made up', async t => {
  const { app, logs } = await build()
  app.addShutdownHook('odd', () => { throw 'not an Error' }) // eslint-disable-line no-throw-literal
  await app.close()
  t.match(logs.find(line => line.graceful?.hook === 'odd'), {
    level: 50, err: 'not an Error', msg: /^shutdown hook "odd" failed after \d+ ms \(it ran first\)$/
  })
})
