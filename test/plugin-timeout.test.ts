// Issue 9 item 5: a direct app.close() whose drain lasts longer than Fastify's pluginTimeout.
// avvio times every preClose hook with pluginTimeout; the drain must not depend on it.
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { build, summary } from './helpers/app.ts'
import { request } from './helpers/http.ts'

t.test('app.close() waits for a drain longer than pluginTimeout, then runs the hooks', async t => {
  const { app, logs } = await build({ timeout: 8000 }, { pluginTimeout: 500, keepAliveTimeout: 72_000 })
  const events: string[] = []
  let started!: () => void
  const inHandler = new Promise<void>(resolve => { started = resolve })
  app.get('/slow', async () => {
    started()
    await sleep(1500)
    events.push('answered')
    return { slow: true, body: 'x'.repeat(64 * 1024) }
  })
  app.addShutdownHook('cleanup', async () => { events.push('hook') })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const agent = new http.Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())

  const answer = request(port, '/slow', { agent })
  await inHandler
  let settled = false
  const closed = app.close().finally(() => { settled = true }).then(() => { events.push('closed') })
  await sleep(700)
  t.notOk(settled, 'close() is still waiting once pluginTimeout has passed')
  await t.resolves(closed, 'close() resolves after the drain')
  const reply = await answer
  t.equal(reply.status, 200, 'the request in flight got its answer')
  t.equal(JSON.parse(reply.body!).body.length, 64 * 1024, 'in full')
  t.same(events, ['answered', 'hook', 'closed'], 'the hooks run after the drain, and close() resolves after them')
  t.match(summary(logs), { cause: 'close', exitCode: 0, requests: { drained: 1, cut: 0 }, hooks: { ok: 1 } })
})
