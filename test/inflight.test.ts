// The hot path (a request passing the open gate) must cost next to nothing: no clock read, no bookkeeping
// for a request on a watched HTTP/1 connection. When the last request passed is still known for the linger.
import t from 'tap'
import type { FastifyReply } from 'fastify'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { ADMITTED_TICK_MS, createInflight } from '../lib/inflight.ts'

function replyOn (socket: object): FastifyReply {
  return { request: { raw: { socket } } } as unknown as FastifyReply
}

// Counts performance.now() calls while `fn` runs (an own property shadows the prototype's method).
function clockReads (fn: () => void): number {
  const real = performance.now.bind(performance)
  let reads = 0
  performance.now = () => { reads++; return real() }
  try {
    fn()
  } finally {
    delete (performance as { now?: unknown }).now
  }
  return reads
}

t.test('admitting requests on a watched connection reads no clock and tracks nothing', async t => {
  const socket = {}
  const inflight = createInflight(new Set([socket as Socket]))
  t.equal(inflight.lastAdmittedAt, 0, 'nothing admitted yet')
  const reads = clockReads(() => {
    for (let i = 0; i < 1000; i++) inflight.admit(replyOn(socket))
  })
  t.equal(reads, 0, 'no performance.now() on the hot path')
  t.same(inflight.pending(), [], 'found on its connection at shutdown, not tracked one by one')
})

t.test('lastAdmittedAt is never earlier than the last admission, and at most about a tick later once idle', async t => {
  const socket = {}
  const inflight = createInflight(new Set([socket as Socket]))
  const before = performance.now()
  inflight.admit(replyOn(socket))
  const after = performance.now()
  const justNow = inflight.lastAdmittedAt
  t.ok(justNow >= before, 'a request admitted since the last tick counts as admitted now')

  // Two ticks: the first stamps the time, the second finds nothing new and stops the timer.
  await sleep(ADMITTED_TICK_MS * 3)
  const stamped = inflight.lastAdmittedAt
  t.ok(stamped >= after, `stamped ${(stamped - after).toFixed(1)} ms after the admission, not before it`)
  t.ok(stamped < performance.now(), 'stamped by a tick, not read now')
  await sleep(ADMITTED_TICK_MS * 2)
  t.equal(inflight.lastAdmittedAt, stamped, 'idle: the stamp stays')

  // The timer starts again with the next request.
  inflight.admit(replyOn(socket))
  await sleep(ADMITTED_TICK_MS * 3)
  t.ok(inflight.lastAdmittedAt > stamped, 'a later request moves the stamp')
})

t.test('a request without a watched connection (HTTP/2, inject()) is tracked on its own', async t => {
  const inflight = createInflight(new Set())
  const res = { on () {}, writableEnded: false }
  inflight.admit({ request: { raw: { socket: null } }, raw: res, sent: false } as unknown as FastifyReply)
  t.equal(inflight.pending().length, 1)
})
