// Requests pipelined on one socket when SIGTERM arrives: every one gets its answer, in order, none before the
// last says Connection: close, the socket closes after the last, and the summary counts them all as drained.
import t, { type Test } from 'tap'
import { start, summaryOf, type Child } from '../helpers/child.ts'
import { openRaw, parseResponses, post, type RawSocket } from '../helpers/raw-http.ts'

const SLOW = '/commit?ms=300'

async function pipelined (t: Test): Promise<{ child: Child, raw: RawSocket }> {
  const child = await start('app.ts', { options: { timeout: 10_000 } }, t)
  const raw = await openRaw(child.ports[0]!)
  t.teardown(() => raw.socket.destroy())
  return { child, raw }
}

/** `inflight`: how many of the three were in flight when the drain began (the summary's drained count). */
async function expectThreeAnswers (t: Test, child: Child, raw: RawSocket, inflight: number): Promise<void> {
  await raw.closed(5000).then(() => t.pass('the server closed the socket'), (error: Error) => t.fail(error.message))
  const responses = parseResponses(raw.received())
  t.equal(responses.length, 3, `three complete responses on the socket, got: ${JSON.stringify(raw.received())}`)
  t.same(responses.map(response => response.status), [200, 200, 200], 'each one 200')
  t.same(responses.map(response => JSON.parse(response.body || '{}').committed?.n), [1, 2, 3], 'in the order they were sent')
  // Answers rendered before the signal, while waiting their turn, say keep-alive: the server closes the idle socket after them.
  t.same(responses.slice(0, 2).map(response => response.headers.connection), ['keep-alive', 'keep-alive'], 'no answer before the last says Connection: close')
  const { code } = await child.exited()
  t.equal(code, 0)
  t.same(child.lines.filter(line => line.committed !== undefined).map(line => line.committed.n).sort(), [1, 2, 3], 'three side effects committed (the handlers run side by side)')
  t.match(summaryOf(child), { exitCode: 0, requests: { drained: inflight, cut: 0, refused: 0 } }, 'the summary counts those in flight as drained, none cut or refused')
}

t.test('three pipelined requests, SIGTERM during the first: three answers, the last with Connection: close', async t => {
  const { child, raw } = await pipelined(t)
  raw.socket.write(post(SLOW, { n: 1 }) + post('/commit', { n: 2 }) + post('/commit', { n: 3 }))
  await child.waitFor(line => line.req?.url === SLOW)
  child.process.kill('SIGTERM')
  await expectThreeAnswers(t, child, raw, 3)
})

t.test('a third request sent during the drain, behind an answer rendered before the signal: still three answers', async t => {
  const { child, raw } = await pipelined(t)
  raw.socket.write(post('/commit?ms=800', { n: 1 }) + post('/commit', { n: 2 }))
  await child.waitFor(line => line.committed?.n === 2)
  child.process.kill('SIGTERM')
  await child.waitFor(line => line.graceful?.event === 'start')
  t.equal(raw.received(), '', 'precondition: the first request is still running')
  raw.socket.write(post('/commit', { n: 3 }))
  await expectThreeAnswers(t, child, raw, 2)
})

t.test('a third request sent after the server already said Connection: close on that socket is not run: the client retries it', async t => {
  const { child, raw } = await pipelined(t)
  raw.socket.write(post('/commit?ms=800', { n: 1 }) + post('/commit?ms=300', { n: 2 }))
  await child.waitFor(line => line.req?.url === '/commit?ms=300')
  child.process.kill('SIGTERM')
  // The second was still running when the drain began: its answer closes the connection.
  await child.waitFor(line => line.committed?.n === 2)
  t.equal(raw.received(), '', 'precondition: the first request is still running')
  raw.socket.write(post('/commit', { n: 3 }))
  await raw.closed(5000)
  const responses = parseResponses(raw.received())
  t.same(responses.map(response => [response.status, JSON.parse(response.body).committed.n, response.headers.connection]), [[200, 1, 'keep-alive'], [200, 2, 'close']])
  const { code } = await child.exited()
  t.equal(code, 0)
  t.notOk(child.lines.some(line => line.committed?.n === 3), 'the third was not run: a client may send it again elsewhere (RFC 9112, 9.3.2)')
  t.match(summaryOf(child), { exitCode: 0, requests: { drained: 2, cut: 0, refused: 1 } })
})
