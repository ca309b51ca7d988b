// PM2 talks to its apps over IPC: 'ready' for wait_ready, and 'shutdown' instead of a signal.
import t from 'tap'
import { once } from 'node:events'
import { start, summaryOf } from '../helpers/child.ts'
import { request } from '../helpers/http.ts'

t.test('under PM2 the app says ready once listening, and a shutdown message shuts it down gracefully', async t => {
  const messages: unknown[] = []
  const child = await start('app.ts', { second: true, hooks: [{ name: 'db', behaviour: 'ok' }] }, t, { env: { pm_id: '0' }, ipc: true })
  child.process.on('message', message => messages.push(message))
  await new Promise(resolve => setTimeout(resolve, 100))
  t.same(messages, ['ready'], 'one ready message for the process, though two instances listen')
  const slow = request(child.ports[0]!, '/slow?ms=300')
  await child.waitFor(line => line.req?.url === '/slow?ms=300')
  child.process.send('shutdown')
  t.equal((await slow).status, 200)
  const { code } = await child.exited()
  t.equal(code, 0)
  t.match(summaryOf(child), { cause: 'message', requests: { drained: 1 } })
  t.match(summaryOf(child, 'admin'), { cause: 'message' })
})

t.test('outside PM2 an IPC channel is left alone: no ready message, other messages ignored', async t => {
  const messages: unknown[] = []
  const child = await start('app.ts', {}, t, { ipc: true })
  child.process.on('message', message => messages.push(message))
  child.process.send('shutdown')
  await new Promise(resolve => setTimeout(resolve, 200))
  t.equal(child.process.exitCode, null, 'still running')
  t.same(messages, [])
  child.process.kill('SIGTERM')
  t.equal((await child.exited()).code, 0)
})

t.test('under PM2 other messages do nothing', async t => {
  const child = await start('app.ts', {}, t, { env: { pm_id: '3' }, ipc: true })
  child.process.send('hello')
  await new Promise(resolve => setTimeout(resolve, 200))
  t.equal(child.process.exitCode, null, 'still running')
  child.process.kill('SIGINT')
  const [code] = await once(child.process, 'exit')
  t.equal(code, 0)
})
