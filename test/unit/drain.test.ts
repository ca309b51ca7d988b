// The drain's rules on a fake clock, with stand-ins for the requests and connections: the linger, the cut moved
// earlier for each request left, idle connections closed after the linger, the counts; exact moments, no server.
import t from 'tap'
import { CUT_COST_MS, drain, LINGER_MS, type DrainParts } from '../../lib/drain.ts'
import type { Exchange } from '../../lib/inflight.ts'
import { fakeClock, type FakeClock } from '../helpers/fake-clock.ts'

interface Request extends Exchange {
  /** The response's status and whether it ended, as the drain left them. */
  answered: { status: number, ended: boolean }
}

function request (): Request {
  const answered = { status: 0, ended: false }
  const res = {
    headersSent: false,
    writeHead (status: number) { answered.status = status },
    end () { answered.ended = true },
    destroy () {}
  }
  return { req: { httpVersionMajor: 1, socket: {} }, res, hijacked: () => false, answered } as unknown as Request
}

/** The parts a drain is given, each a few lines; `log` says what the drain did to them, and when. */
function standIns (clock: FakeClock, inFlight: Request[], { recently = false, refused = 2, connected = true } = {}) {
  const open = new Set<Exchange>(inFlight)
  let waiters: Array<() => void> = []
  const log: string[] = []
  const at = (what: string): void => { log.push(`${what} at ${Math.round(clock.now() * 10) / 10}`) }
  const finish = (exchange: Exchange): void => {
    open.delete(exchange)
    if (open.size > 0) return
    for (const wake of waiters) wake()
    waiters = []
  }
  const parts: DrainParts = {
    clock,
    inflight: {
      admittedRecently: recently,
      exchanges: () => [...open],
      pending: () => [...open],
      forget: exchange => { open.delete(exchange) },
      whenIdle: () => open.size === 0 ? Promise.resolve() : new Promise(resolve => { waiters.push(resolve) })
    },
    connections: { http1Sockets: new Set() as never, closeIdle: () => at('closeIdle'), open: () => connected },
    lastCall: { askToClose: () => at('askToClose') },
    injects: { onTheirWay: () => ({ onTheirWay: 0, answered: Promise.resolve() }), issuedEarly: () => false },
    retryAfter: 5,
    waitForInjects: true,
    farewell: () => at('farewell'),
    pastNoReturn: () => at('pastNoReturn'),
    refused: () => refused
  }
  return { parts, log, open, finish }
}

t.test('with nothing in flight and no request lately, idle connections go at once', async t => {
  const clock = fakeClock()
  const { parts, log } = standIns(clock, [])
  const drained = drain(parts, 1000)
  await clock.advance(2000)
  t.same(await drained, { inflight: 0, completed: 0, cut: 0, refused: 2, durationMs: 0, timedOut: false })
  t.same(log, ['farewell at 0', 'closeIdle at 0', 'pastNoReturn at 0'])
})

t.test('requests lately: idle connections stay open for the linger, then go', async t => {
  const clock = fakeClock()
  const { parts, log } = standIns(clock, [], { recently: true })
  const drained = drain(parts, 1000)
  await clock.advance(2000)
  t.match(await drained, { durationMs: LINGER_MS, timedOut: false })
  t.same(log, ['farewell at 0', `closeIdle at ${LINGER_MS}`, `pastNoReturn at ${LINGER_MS}`])
})

t.test('requests lately but no connection left open (inject() alone, or every client gone): no linger', async t => {
  const clock = fakeClock()
  const { parts, log } = standIns(clock, [], { recently: true, connected: false })
  const drained = drain(parts, 1000)
  await clock.advance(2000)
  t.match(await drained, { durationMs: 0, timedOut: false })
  t.same(log, ['farewell at 0', 'closeIdle at 0', 'pastNoReturn at 0'])
})

t.test('the linger never outlasts the drain deadline', async t => {
  const clock = fakeClock()
  const { parts, log } = standIns(clock, [], { recently: true })
  const drained = drain(parts, 100)
  await clock.advance(2000)
  t.match(await drained, { durationMs: 100, timedOut: false })
  t.same(log, ['farewell at 0', 'closeIdle at 100', 'pastNoReturn at 100'])
})

t.test('each request in flight is asked to close its connection; the drain ends when the last one does', async t => {
  const clock = fakeClock()
  const first = request()
  const second = request()
  const { parts, log, finish } = standIns(clock, [first, second])
  clock.sleep(100).then(() => finish(first))
  clock.sleep(400).then(() => finish(second))
  const drained = drain(parts, 1000)
  await clock.advance(2000)
  t.same(await drained, { inflight: 2, completed: 2, cut: 0, refused: 2, durationMs: 400, timedOut: false })
  t.same(log, ['askToClose at 0', 'askToClose at 0', 'farewell at 0', 'closeIdle at 400', 'pastNoReturn at 400'])
  t.same(first.answered, { status: 0, ended: false }, 'a request that finished is left alone')
})

t.test('a request that ends during the linger: idle connections still go at its end, not before', async t => {
  const clock = fakeClock()
  const inFlight = request()
  const { parts, log, finish } = standIns(clock, [inFlight], { recently: true })
  clock.sleep(100).then(() => finish(inFlight))
  const drained = drain(parts, 1000)
  await clock.advance(2000)
  t.match(await drained, { completed: 1, durationMs: LINGER_MS })
  t.same(log.slice(-2), [`closeIdle at ${LINGER_MS}`, `pastNoReturn at ${LINGER_MS}`])
})

t.test('a request that arrives as idle connections close is waited for in turn', async t => {
  const clock = fakeClock()
  const { parts, log, open, finish } = standIns(clock, [])
  const late = request()
  let arrived = false
  parts.connections.closeIdle = () => {
    log.push(`closeIdle at ${clock.now()}`)
    if (arrived) return
    arrived = true
    // Read from its connection's buffer just before: the gate let it through, as the last on its connection.
    open.add(late)
    clock.sleep(300).then(() => finish(late))
  }
  const drained = drain(parts, 1000)
  await clock.advance(2000)
  t.match(await drained, { inflight: 0, completed: 0, cut: 0, durationMs: 300, timedOut: false })
  t.same(log, ['farewell at 0', 'closeIdle at 0', 'closeIdle at 300', 'pastNoReturn at 300'])
})

t.test('at the deadline what is left is cut, earlier by CUT_COST_MS for each request left', async t => {
  const clock = fakeClock()
  const requests = [request(), request(), request(), request()]
  const { parts, log, finish } = standIns(clock, requests)
  clock.sleep(500).then(() => finish(requests[0]!))
  const drained = drain(parts, 1000)
  await clock.advance(2000)
  const cutAt = 1000 - 3 * CUT_COST_MS
  const { durationMs, ...counts } = await drained
  t.same(counts, { inflight: 4, completed: 1, cut: 3, refused: 2, timedOut: true })
  t.ok(Math.abs(durationMs - cutAt) < 1e-9, `cut at ${cutAt}, not at the deadline (${durationMs})`)
  t.same(log.slice(-1), [`pastNoReturn at ${cutAt}`], 'the cut came when three were left, not at the first estimate')
  t.same(requests.map(request => request.answered), [
    { status: 0, ended: false }, { status: 503, ended: true }, { status: 503, ended: true }, { status: 503, ended: true }
  ])
})

t.test('a request already streaming is cut by closing it; an HTTP/2 one too is first asked to close', async t => {
  const clock = fakeClock()
  const streaming = request()
  let destroyed = false
  Object.assign(streaming.res, { headersSent: true, destroy: () => { destroyed = true } })
  const h2 = request()
  Object.assign(h2.req, { httpVersionMajor: 2 })
  const { parts, log } = standIns(clock, [streaming, h2])
  const drained = drain(parts, 50)
  await clock.advance(100)
  t.match(await drained, { cut: 2, timedOut: true })
  t.ok(destroyed, 'nothing can be answered on a response that has begun: its connection goes')
  t.same(h2.answered, { status: 503, ended: true })
  t.same(log.filter(line => line.startsWith('askToClose')), ['askToClose at 0'], 'only the one not streaming')
})
