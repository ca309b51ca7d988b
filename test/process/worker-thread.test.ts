// Inside a worker_threads Worker, signals never arrive: registering with signals warns, and the thread's owner shuts
// the app down by asking it to call app.close().
import t from 'tap'
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { fixture } from '../helpers/child.ts'

async function startWorker (t: { teardown (fn: () => void): void }, options: object): Promise<{ worker: Worker, first: Record<string, any>, messages: Array<Record<string, any>> }> {
  const worker = new Worker(fixture('worker-app.ts'), { workerData: options })
  t.teardown(() => { worker.terminate() })
  const messages: Array<Record<string, any>> = []
  worker.on('message', message => messages.push(message))
  const [first] = await once(worker, 'message')
  return { worker, first, messages }
}

t.test('registered in a worker thread with the default signals: a warning with a code says so, and names the fix', async t => {
  const { worker, first, messages } = await startWorker(t, { timeout: 2000 })
  t.equal(first.warnings.length, 1)
  t.equal(first.warnings[0].code, 'FST_GRACEFUL_WORKER_THREAD')
  t.match(first.warnings[0].message, /inside a worker thread with signals SIGTERM, SIGINT: signals never reach a worker thread.*app\.close\(\).*\{ signals: false \}/)
  // The owner's way: ask the thread to close the app; the hooks run.
  worker.postMessage('close')
  await once(worker, 'exit')
  t.same(messages.slice(1), [{ hook: 'db' }, { closed: true }])
})

for (const signals of [false, []]) {
  t.test(`registered in a worker thread with signals: ${JSON.stringify(signals)}: no warning`, async t => {
    const { worker, first } = await startWorker(t, { signals })
    t.same(first.warnings, [])
    worker.postMessage('close')
    await once(worker, 'exit')
  })
}
