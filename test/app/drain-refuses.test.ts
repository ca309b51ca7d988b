// Guard: serving the next request on connections that were already open is for a real listener's drain.
// app.drain() in tests has no port to close, so the gate keeps refusing every new request with 503 + Retry-After.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { arrival, build } from '../helpers/app.ts'

t.test('app.drain() with inject(): every new request, during and after the drain, gets 503 with Retry-After', async t => {
  const { app } = await build()
  t.teardown(() => app.close())
  const { arrived, reached } = arrival()
  app.get('/slow', async () => { arrived(); await sleep(200); return 'slow done' })
  app.get('/', async () => 'ok')
  app.post('/echo', async request => request.body)
  t.equal((await app.inject('/')).statusCode, 200, 'served before the drain')
  const slow = app.inject('/slow')
  await reached
  const drained = app.drain()

  const during = await Promise.all([app.inject('/'), app.inject({ method: 'POST', url: '/echo', payload: { n: 1 } }), app.inject('/')])
  for (const refused of during) {
    t.equal(refused.statusCode, 503, `refused: ${refused.body}`)
    t.equal(refused.headers['retry-after'], '1', 'with the default Retry-After')
    t.equal(refused.headers.connection, 'close')
  }
  t.equal((await slow).statusCode, 200, 'the request in flight finished')
  t.match(await drained, { inflight: 1, completed: 1, cut: 0, refused: 3, timedOut: false })
  const after = await app.inject('/')
  t.equal(after.statusCode, 503, 'still refused once the drain is over')
  t.equal(after.headers['retry-after'], '1')
})
