// Direct keep-alive clients across SIGTERM while the event loop is busy (each request holds it 2-10 ms): every request
// is answered or its connection refused; none dies on a reset. Behind a busy loop new connections wait in the kernel's
// accept queue, and closing the port resets whatever still waits there.
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { start } from '../helpers/child.ts'
import { request, type Answer } from '../helpers/http.ts'

t.test('busy event loop, 16 keep-alive clients across SIGTERM: answered or refused, never reset', async t => {
  const child = await start('app.ts', { options: { timeout: 10_000 } }, t)
  const port = child.ports[0]!
  const answers: Answer[] = []
  const load = { running: true }
  const worker = async (): Promise<void> => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    while (load.running) answers.push(await request(port, `/busy?ms=${2 + Math.floor(Math.random() * 8)}`, { agent }))
    agent.destroy()
  }
  const workers = Array.from({ length: 16 }, worker)
  await sleep(1500)
  child.process.kill('SIGTERM')
  const { code } = await child.exited()
  load.running = false
  await Promise.all(workers)
  const byKind: Record<string, number> = {}
  for (const answer of answers) {
    const kind = answer.error ?? `status ${answer.status}`
    byKind[kind] = (byKind[kind] ?? 0) + 1
  }
  t.comment(JSON.stringify(byKind))
  t.equal(code, 0)
  t.ok((byKind['status 200'] ?? 0) > 50, 'the load ran')
  t.same(Object.keys(byKind).filter(kind => kind !== 'status 200' && kind !== 'ECONNREFUSED'), [], 'nothing but answers and refusals')
})
