// Fastify's return503OnClosing: false asks that requests arriving while the server closes are still served:
// the drain honours it (each answer with Connection: close, within the drain's time).
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { build } from '../helpers/app.ts'
import { refusesWhileClosing } from '../../lib/options.ts'

for (const [setting, status] of [[false, 200], [true, 503], [undefined, 503]] as const) {
  t.test(`return503OnClosing: ${setting}: a request during the drain gets ${status}`, async t => {
    const { app } = await build({}, setting === undefined ? {} : { return503OnClosing: setting })
    t.teardown(() => app.close())
    let arrived!: () => void
    const slowArrived = new Promise<void>(resolve => { arrived = resolve })
    app.get('/slow', async () => { arrived(); await sleep(200); return 'slow done' })
    app.get('/', async () => 'ok')
    const slow = app.inject('/slow')
    await slowArrived
    const drained = app.drain()
    const res = await app.inject('/')
    t.equal(res.statusCode, status)
    t.equal(res.headers.connection, 'close', 'the client is asked to go elsewhere either way')
    t.equal((await slow).statusCode, 200)
    t.match(await drained, { timedOut: false })
  })
}

t.test('without Fastify\'s options in sight (not a Fastify instance), the default holds', async t => {
  t.equal(refusesWhileClosing({}), true)
})
