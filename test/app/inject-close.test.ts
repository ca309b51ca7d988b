// inject() requests have no connection and no client to cut off. app.close() leaves them alone, as Fastify's own
// close() does: a test's teardown does not wait for a request it abandoned. app.drain() waits for them (a test that
// wants to see the drain).
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { arrival, build } from '../helpers/app.ts'
import { request } from '../helpers/http.ts'

const TIMEOUT = 10_000

t.test('close() does not wait for an abandoned inject() that is never answered', async t => {
  const { app } = await build({ timeout: TIMEOUT })
  const { arrived, reached } = arrival()
  app.get('/never', async (_request, reply) => {
    reply.hijack()
    arrived()
  })
  const events: string[] = []
  app.addShutdownHook('cleanup', async () => { events.push('hook') })
  await app.ready()
  // The test gives up on it once it is in the handler, as Fastify's own tests do (test/skip-reply-send.test.js).
  app.inject('/never').catch(() => {})
  await reached
  const startedAt = performance.now()
  await app.close()
  const ms = performance.now() - startedAt
  t.ok(ms < TIMEOUT / 3, `close() took ${Math.round(ms)} ms, not the timeout`)
  t.same(events, ['hook'])
})

t.test('close() does not wait for an inject() in flight; it is still answered, as with Fastify alone', async t => {
  const { app } = await build({ timeout: TIMEOUT })
  const { arrived, reached } = arrival()
  app.get('/slow', async () => {
    arrived()
    await sleep(500)
    return 'slow'
  })
  await app.ready()
  const slow = app.inject('/slow')
  await reached
  let answered = false
  slow.then(() => { answered = true }, () => {})
  await app.close()
  t.notOk(answered, 'close() resolved before the inject() was answered')
  const answer = await slow
  t.equal(answer.statusCode, 200)
  t.equal(answer.body, 'slow')
})

t.test('drain() waits for an inject() in flight, and for one injected just before it', async t => {
  const { app } = await build({ timeout: TIMEOUT })
  const { arrived, reached } = arrival()
  app.get('/slow', async () => {
    arrived()
    await sleep(300)
    return 'slow'
  })
  await app.ready()
  const first = app.inject('/slow')
  await reached
  const second = app.inject({ url: '/slow' })
  const result = await app.drain()
  t.match(result, { inflight: 2, completed: 2, cut: 0, timedOut: false })
  t.equal((await first).statusCode, 200)
  t.equal((await second).statusCode, 200)
  t.equal((await app.inject('/slow')).statusCode, 503, 'injected after drain(): refused')
  await app.close()
})

t.test('drain(): an inject() issued before it and never answered is cut at the drain deadline', async t => {
  const { app } = await build({ timeout: 1000, hookTimeout: 100 })
  app.get('/never', () => new Promise(() => {}))
  await app.ready()
  const never = app.inject('/never')
  const result = await app.drain()
  t.match(result, { inflight: 1, completed: 0, cut: 1, timedOut: true })
  t.equal((await never).statusCode, 503)
  await app.close()
})

t.test('inject() with a callback, and as a chain, before drain()', async t => {
  const { app } = await build({ timeout: TIMEOUT })
  app.get('/slow', async () => {
    await sleep(100)
    return 'slow'
  })
  await app.ready()
  const viaCallback = new Promise<number>((resolve, reject) => {
    app.inject('/slow', (err, res) => err == null ? resolve(res!.statusCode) : reject(err))
  })
  const viaChain = app.inject().get('/slow').end()
  const result = await app.drain()
  t.match(result, { inflight: 2, completed: 2 })
  t.equal(await viaCallback, 200)
  t.equal((await viaChain).statusCode, 200)
  await app.close()
})

t.test('inject() while close() drains fails as with Fastify alone (FST_ERR_REOPENED_CLOSE_SERVER), not with a 503', async t => {
  const { app } = await build({ timeout: TIMEOUT })
  const { arrived, reached } = arrival()
  app.get('/slow', async () => {
    arrived()
    await sleep(300)
    return 'slow'
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const slow = request(port, '/slow')
  await reached
  const closed = app.close()
  // The drain is under way once the shutdown has begun (close()'s preClose step).
  while (!app.isShuttingDown) await new Promise(resolve => setImmediate(resolve))
  await t.rejects(app.inject('/slow'), { code: 'FST_ERR_REOPENED_CLOSE_SERVER' })
  const error = await new Promise(resolve => { app.inject('/slow', err => resolve(err)) })
  t.match(error, { code: 'FST_ERR_REOPENED_CLOSE_SERVER' }, 'with a callback too')
  t.equal((await slow).status, 200, 'the drain still serves what was in flight')
  await closed
})
