// Requests pipelined on one socket when SIGTERM arrives: every one gets its answer, in order, the last
// one says Connection: close, the socket closes after it, and the summary counts them all as drained.
import t, { type Test } from 'tap'
import { start, summaryOf, type Child } from './helpers/child.ts'
import { openRaw, parseResponses, post, type RawSocket } from './helpers/raw-http.ts'

const SLOW = '/commit?ms=300'

async function pipelined (t: Test): Promise<{ child: Child, raw: RawSocket }> {
  const child = await start('app.ts', { options: { timeout: 10_000 } }, t)
  const raw = await openRaw(child.ports[0]!)
  t.teardown(() => raw.socket.destroy())
  return { child, raw }
}

async function expectThreeAnswers (t: Test, child: Child, raw: RawSocket): Promise<void> {
  await raw.closed(5000).then(() => t.pass('the server closed the socket'), (error: Error) => t.fail(error.message))
  const responses = parseResponses(raw.received())
  t.equal(responses.length, 3, `three complete responses on the socket, got: ${JSON.stringify(raw.received())}`)
  t.same(responses.map(response => response.status), [200, 200, 200], 'each one 200')
  t.same(responses.map(response => JSON.parse(response.body || '{}').committed?.n), [1, 2, 3], 'in the order they were sent')
  t.same(responses.map(response => response.headers.connection), ['keep-alive', 'keep-alive', 'close'], 'only the last says Connection: close')
  const { code } = await child.exited()
  t.equal(code, 0)
  t.same(child.lines.filter(line => line.committed !== undefined).map(line => line.committed.n).sort(), [1, 2, 3], 'three side effects committed (the handlers run side by side)')
  t.match(summaryOf(child), { exitCode: 0, requests: { drained: 3, cut: 0 } }, 'the summary counts the three as drained, none cut')
}

t.test('three pipelined requests, SIGTERM during the first: three answers, the last with Connection: close', async t => {
  const { child, raw } = await pipelined(t)
  raw.socket.write(post(SLOW, { n: 1 }) + post('/commit', { n: 2 }) + post('/commit', { n: 3 }))
  await child.waitFor(line => line.req?.url === SLOW)
  child.process.kill('SIGTERM')
  await expectThreeAnswers(t, child, raw)
})

t.test('the third pipelined request sent during the drain, while the first still runs: still three answers', async t => {
  const { child, raw } = await pipelined(t)
  raw.socket.write(post('/commit?ms=800', { n: 1 }) + post('/commit', { n: 2 }))
  await child.waitFor(line => line.req?.url === '/commit?ms=800')
  child.process.kill('SIGTERM')
  await child.waitFor(line => line.graceful?.event === 'start')
  t.equal(raw.received(), '', 'precondition: the first request is still running')
  raw.socket.write(post('/commit', { n: 3 }))
  await expectThreeAnswers(t, child, raw)
})
