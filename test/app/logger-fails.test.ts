// A logger that fails (its destination already ended) never fails a shutdown: the log is best effort.
import Fastify, { type FastifyInstance } from 'fastify'
import { pino } from 'pino'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import graceful from '../../lib/index.ts'
import { createReporter } from '../../lib/report.ts'

t.test('close() resolves and the hooks run when every log write throws', async t => {
  const destination = pino.destination({ dest: join(tmpdir(), `graceful-ended-${process.pid}.log`), sync: true })
  const app = Fastify({ loggerInstance: pino({ level: 'info' }, destination) }) as unknown as FastifyInstance
  await app.register(graceful, { signals: false })
  const ran: string[] = []
  app.addShutdownHook('db', async () => { ran.push('db') })
  app.addShutdownHook('cache', async () => { throw new Error('cache failed') })
  await app.ready()
  destination.end()
  t.throws(() => app.log.info('a write after the end'), 'the logger itself now throws on every line')
  await t.resolves(app.close(), 'close() resolves')
  t.same(ran, ['db'], 'the hooks ran')
})

t.test('flushing a logger whose destination ended settles at once', async t => {
  const destination = pino.destination({ dest: join(tmpdir(), `graceful-ended-flush-${process.pid}.log`), sync: true })
  const app = Fastify({ loggerInstance: pino({ level: 'info' }, destination) }) as unknown as FastifyInstance
  t.teardown(() => app.close())
  destination.end()
  const started = Date.now()
  await createReporter(app).flush(5000)
  t.ok(Date.now() - started < 2000, `settled after ${Date.now() - started} ms`)
})
