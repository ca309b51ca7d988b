// waitUntil: work that outlives its response keeps the shutdown waiting, within the drain deadline.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { build, logged, summary } from '../helpers/app.ts'

t.test('request.waitUntil: the work after the response finishes before the hooks, and is counted', async t => {
  const { app, logs } = await build()
  const order: string[] = []
  app.post('/signup', async request => {
    request.waitUntil(sleep(150).then(() => { order.push('email sent') }))
    return { welcome: true }
  })
  app.addShutdownHook('close the mailer', () => { order.push('hook') })
  t.equal((await app.inject({ method: 'POST', url: '/signup' })).statusCode, 200)
  await app.close()
  t.same(order, ['email sent', 'hook'])
  t.match(summary(logs), { exitCode: 0, work: { finished: 1, failed: 0, cut: 0 } })
})

t.test('waitUntil is one function on the request prototype: nothing per request', async t => {
  const { app } = await build()
  t.teardown(() => app.close())
  let own: boolean | undefined
  app.get('/', async request => { own = Object.hasOwn(request, 'waitUntil'); return typeof request.waitUntil })
  t.equal((await app.inject('/')).body, 'function')
  t.equal(own, false)
})

t.test('app.waitUntil: work that no request started, cut and counted at the drain deadline', async t => {
  const { app, logs } = await build({ timeout: 400, hookTimeout: 100 })
  let hookRan = false
  app.addShutdownHook('after', () => { hookRan = true })
  app.waitUntil(new Promise(() => {}))
  app.waitUntil(sleep(30))
  const started = Date.now()
  await app.close()
  t.ok(Date.now() - started < 3000, 'bounded by the deadline')
  t.ok(hookRan, 'the hooks ran after the work was cut')
  t.match(summary(logs), { exitCode: 1, work: { finished: 1, failed: 0, cut: 1 } })
  t.match(logs.find(line => line.graceful?.event === 'end')?.msg, /work 1 finished, 0 failed, 1 cut/)
})

t.test('work that adds more work is waited for too', async t => {
  const { app, logs } = await build()
  const done: string[] = []
  app.waitUntil(sleep(20).then(() => { app.waitUntil(sleep(40).then(() => { done.push('second') })) }))
  await app.close()
  t.same(done, ['second'])
  t.match(summary(logs), { work: { finished: 2, cut: 0 } })
})

t.test('a rejected promise is logged and counted, never crashes the process', async t => {
  const { app, logs } = await build()
  app.waitUntil(Promise.reject(new Error('audit row not written before the shutdown')))
  await logged(logs, line => line.err?.message?.includes('audit row'))
  app.waitUntil(sleep(20).then(() => { throw new Error('email bounced') }))
  await app.close()
  const failures = logs.filter(line => line.graceful?.event === 'work')
  t.match(failures, [{ level: 50, err: { message: /audit row/ } }, { level: 50, err: { message: 'email bounced' }, msg: 'work passed to app.waitUntil() failed' }])
  t.match(summary(logs), { exitCode: 1, work: { finished: 0, failed: 1, cut: 0 } }, 'only the work settled during the shutdown is counted')
})

t.test('waitUntil once the shutdown stopped waiting for work: not waited for, logged, its rejection still caught', async t => {
  const { app, logs } = await build()
  await app.close()
  app.waitUntil(Promise.reject(new Error('too late')))
  await logged(logs, line => line.err?.message === 'too late')
  t.match(logs.filter(line => line.graceful?.event === 'work'), [
    { level: 40, msg: /app\.waitUntil\(\) after the shutdown stopped waiting for work: the shutdown does not wait/ },
    { level: 50, err: { message: 'too late' } }
  ])
  t.match(summary(logs), { work: { finished: 0, failed: 0, cut: 0 } })
})

t.test('waitUntil after the drain deadline cut some work: the warning says so', async t => {
  const { app, logs } = await build({ timeout: 400, hookTimeout: 100 })
  app.waitUntil(new Promise(() => {}))
  await app.close()
  app.waitUntil(sleep(1))
  t.match(logs.filter(line => line.graceful?.outcome === 'late'), [{ level: 40, msg: /app\.waitUntil\(\) after the drain deadline: the shutdown does not wait/ }])
  t.match(summary(logs), { work: { cut: 1 } })
})

t.test('app.waitUntil() after an app.drain() that ended early, before close(): close() waits for it, no warning', async t => {
  const { app, logs } = await build({ timeout: 3000 })
  const order: string[] = []
  app.addShutdownHook('db', () => { order.push('hook') })
  await app.drain()
  app.waitUntil(sleep(150).then(() => { order.push('work') }))
  const started = Date.now()
  await app.close()
  t.same(order, ['work', 'hook'], 'the work finished before the hooks ran')
  t.ok(Date.now() - started >= 140, 'close() waited for it')
  t.equal(logs.filter(line => line.graceful?.outcome === 'late').length, 0, 'no "after the drain deadline" warning')
  t.match(summary(logs), { exitCode: 0, work: { finished: 1, failed: 0, cut: 0 } })
})

t.test('work handed over after an early app.drain() is still bounded by the close\'s deadline', async t => {
  const { app, logs } = await build({ timeout: 400, hookTimeout: 100 })
  await app.drain()
  app.waitUntil(new Promise(() => {}))
  const started = Date.now()
  await app.close()
  t.ok(Date.now() - started < 3000, 'bounded')
  t.match(summary(logs), { exitCode: 1, work: { cut: 1 } })
})

t.test('request.waitUntil taken off the request (destructured) works the same, with nothing per request', async t => {
  const { app, logs } = await build()
  const order: string[] = []
  app.post('/signup', async request => {
    const { waitUntil } = request
    waitUntil(sleep(100).then(() => { order.push('email sent') }))
    return { welcome: true }
  })
  app.addShutdownHook('close the mailer', () => { order.push('hook') })
  t.equal((await app.inject({ method: 'POST', url: '/signup' })).statusCode, 200)
  await app.close()
  t.same(order, ['email sent', 'hook'])
  t.match(summary(logs), { exitCode: 0, work: { finished: 1 } })
})

t.test('app.drain() waits for the work too', async t => {
  const { app, logs } = await build()
  let done = false
  app.waitUntil(sleep(50).then(() => { done = true }))
  await app.drain()
  t.ok(done)
  await app.close()
  t.match(summary(logs), { work: { finished: 1 } })
})

t.test('waitUntil needs a promise', async t => {
  const { app } = await build()
  t.teardown(() => app.close())
  t.throws(() => app.waitUntil('later' as never), { code: 'FST_GRACEFUL_INVALID_WORK', message: "fastify-graceful: app.waitUntil() must be given a promise, got 'later'" })
  let thrown: unknown
  app.get('/', async request => {
    try { request.waitUntil(undefined as never) } catch (error) { thrown = error }
    return 'ok'
  })
  await app.inject('/')
  t.match(thrown, { code: 'FST_GRACEFUL_INVALID_WORK', message: /request\.waitUntil\(\) must be given a promise, got undefined/ })
})

t.test('a thenable whose then getter throws is no promise: FST_GRACEFUL_INVALID_WORK, not the getter\'s error', async t => {
  const { app } = await build()
  t.teardown(() => app.close())
  const trap = { get then () { throw new Error('getter blew up') } }
  t.throws(() => app.waitUntil(trap as never), { code: 'FST_GRACEFUL_INVALID_WORK', message: /app\.waitUntil\(\) must be given a promise, got \{ then: \[Getter\] \}/ })
})
