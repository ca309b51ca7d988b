// An app that never listens (a test that only uses inject(), a script that builds the app to print its routes): ready,
// then close, with the plugin registered: nothing to drain, no port to close, no connection to end.
import Fastify from 'fastify'
import t from 'tap'
import graceful from '../../lib/index.ts'

t.test('an app that never listened closes at once, with the whole sequence', async t => {
  for (const logger of [false, true]) {
    const app = Fastify({ logger: logger && { level: 'warn' } })
    await app.register(graceful, { signals: false })
    const ran: string[] = []
    app.addShutdownHook('cleanup', () => { ran.push('hook') })
    await app.ready()
    t.equal(app.isShuttingDown, false)
    const started = Date.now()
    await app.close()
    t.same(ran, ['hook'], `logger ${logger}: the hooks ran`)
    t.ok(Date.now() - started < 2000, 'at once')
    t.equal(app.isShuttingDown, true)
  }
})
