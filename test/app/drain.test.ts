// app.drain(): admission closes, in-flight requests finish (bounded), the instance stays open.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { arrival, build, summary } from '../helpers/app.ts'

t.test('before any shutdown every request passes and isShuttingDown is false', async t => {
  const { app } = await build()
  t.teardown(() => app.close())
  app.get('/', async () => 'ok')
  const res = await app.inject('/')
  t.equal(res.statusCode, 200)
  t.not(res.headers.connection, 'close', 'no Connection: close before a shutdown')
  t.equal(app.isShuttingDown, false)
})

t.test('drain refuses new requests with 503, Connection: close and Retry-After; in-flight ones finish', async t => {
  const { app, logs } = await build({ retryAfter: 7 })
  t.teardown(() => app.close())
  const { arrived, reached } = arrival()
  app.get('/slow', async () => { arrived(); await sleep(100); return 'slow done' })
  app.get('/', async () => 'ok')
  const slow = app.inject('/slow')
  await reached
  const drained = app.drain()
  t.equal(app.isShuttingDown, true, 'true from the first moment')
  const refused = await app.inject('/')
  t.equal(refused.statusCode, 503)
  t.equal(refused.headers.connection, 'close')
  t.equal(refused.headers['retry-after'], '7')
  t.same(refused.json(), { statusCode: 503, code: 'FST_GRACEFUL_SHUTTING_DOWN', error: 'Service Unavailable', message: 'Server is shutting down' })
  const answer = await slow
  t.equal(answer.statusCode, 200)
  t.equal(answer.body, 'slow done')
  t.equal(answer.headers.connection, 'close', 'the response in flight asks the client to close its connection')
  const result = await drained
  t.match(result, { inflight: 1, completed: 1, cut: 0, refused: 1, timedOut: false })
  t.ok(result.durationMs >= 50 && result.durationMs < 2000)
  t.equal(app.drain(), app.drain(), 'concurrent and later calls share one result')
  t.same(await app.drain(), result)
  t.equal((await app.inject('/')).statusCode, 503, 'the instance stays open for inject() after the drain')
  t.match(logs.find(line => line.graceful?.event === 'start'), { graceful: { cause: 'drain', inflight: 1 } })
})

t.test('retryAfter: false omits the header', async t => {
  const { app } = await build({ retryAfter: false })
  t.teardown(() => app.close())
  await app.drain()
  const res = await app.inject('/anything')
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], undefined)
})

t.test('the drain is bounded: a hung request gets a 503 at the drain deadline, and close() reports it', async t => {
  const { app, logs } = await build({ timeout: 300 })
  const { arrived, reached } = arrival()
  app.get('/hang', () => { arrived(); return new Promise(() => {}) })
  const hung = app.inject('/hang')
  await reached
  const started = Date.now()
  const result = await app.drain()
  t.ok(Date.now() - started < 3000, 'bounded by the drain deadline, not by the request')
  t.match(result, { inflight: 1, completed: 0, cut: 1, timedOut: true })
  const res = await hung
  t.equal(res.statusCode, 503)
  t.equal(res.headers.connection, 'close')
  t.match(res.json(), { code: 'FST_GRACEFUL_SHUTTING_DOWN', message: /did not finish before the deadline/ })
  await app.close()
  t.match(summary(logs), { cause: 'drain', exitCode: 1, requests: { drained: 0, cut: 1 } })
})

t.test('thousands of hung requests: the cut starts early enough for the drain to end by its deadline', async t => {
  const count = 5000
  const { app } = await build({ timeout: 1000 }, { logger: false })
  t.teardown(() => app.close())
  const reached = { count: 0 }
  app.get('/hang', () => { reached.count++; return new Promise(() => {}) })
  const hung = Array.from({ length: count }, () => app.inject('/hang'))
  while (reached.count < count) await sleep(5)
  const started = performance.now()
  const result = await app.drain()
  const tookMs = performance.now() - started
  t.match(result, { inflight: count, completed: 0, cut: count, timedOut: true })
  // The drain deadline is 950 ms away; cutting 5000 requests starts about 500 ms before it (0.1 ms each): the rule is
  // test/unit/drain.test.ts's, on the fake clock. Here, loosely (a busy CI machine cuts slower): the cut took its time
  // from before the deadline, not after it.
  t.ok(tookMs < 950 + 1000, `the drain ended ${Math.round(tookMs)} ms after it began (its deadline: 950 ms)`)
  t.ok((await Promise.all(hung)).every(res => res.statusCode === 503), 'every one was answered 503')
})

t.test('as requests finish, the cut moves back towards the deadline: the hung ones get the time the others freed', async t => {
  const { app } = await build({ timeout: 1000 }, { logger: false })
  t.teardown(() => app.close())
  const reached = { count: 0 }
  app.get('/hang', () => { reached.count++; return new Promise(() => {}) })
  app.get('/quick', async () => { reached.count++; await sleep(100); return 'done' })
  const requests = [...Array.from({ length: 4000 }, () => app.inject('/quick')), ...Array.from({ length: 1000 }, () => app.inject('/hang'))]
  while (reached.count < 5000) await sleep(5)
  const started = performance.now()
  const result = await app.drain()
  const tookMs = performance.now() - started
  t.match(result, { inflight: 5000, completed: 4000, cut: 1000 })
  // With 5000 in flight the cut was due 500 ms before the deadline; with 1000 left, 100 ms before it (850 ms in).
  t.ok(tookMs > 600, `the hung requests were cut ${Math.round(tookMs)} ms into the drain, not at once`)
  await Promise.all(requests)
})

t.test('a response already streaming when the deadline comes is closed, not left hanging', async t => {
  const { app } = await build({ timeout: 300 })
  let streaming!: () => void
  const started = new Promise<void>(resolve => { streaming = resolve })
  app.get('/stream', (_request, reply) => {
    reply.raw.writeHead(200, { 'content-type': 'text/plain' })
    reply.raw.write('first part')
    reply.hijack()
    streaming()
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const { request } = await import('../helpers/http.ts')
  const answer = request(port, '/stream')
  await started
  const result = await app.drain()
  t.match(result, { inflight: 1, cut: 1, timedOut: true })
  t.match(await answer, { error: /ECONNRESET|aborted/ }, 'the client sees the stream end abruptly instead of waiting forever')
  await app.close()
})

t.test('with inject(), a response already streaming when the drain starts finishes normally', async t => {
  const { app } = await build()
  const { arrived, reached } = arrival()
  app.get('/stream', (_request, reply) => {
    reply.raw.writeHead(200, { 'content-type': 'text/plain' })
    reply.raw.write('first part, ')
    reply.hijack()
    arrived()
    setTimeout(() => reply.raw.end('last part'), 50)
  })
  const streaming = app.inject('/stream')
  await reached
  const result = await app.drain()
  t.match(result, { inflight: 1, completed: 1, cut: 0 })
  t.equal((await streaming).body, 'first part, last part')
  await app.close()
})

t.test('close() without drain() runs the whole sequence with cause "close"', async t => {
  const { app, logs } = await build()
  await app.close()
  t.equal(app.isShuttingDown, true)
  t.match(summary(logs), { cause: 'close', exitCode: 0, requests: { drained: 0, refused: 0, cut: 0 } })
  t.match(summary(logs)?.durationMs, { total: Number, delay: 0, drain: Number, close: Number, hooks: Number })
})

t.test('close() on an instance that never became ready still runs the hooks', async t => {
  const { app, logs } = await build()
  let ran = false
  app.addShutdownHook('db', () => { ran = true })
  await app.close()
  t.equal(ran, true)
  t.match(summary(logs), { cause: 'close', exitCode: 0 })
})
