// diagnostics_channel: the shutdown's events for APM tools, without a logger.
import dc from 'node:diagnostics_channel'
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { arrival, build } from '../helpers/app.ts'
import { CHANNELS } from '../../lib/channels.ts'

t.test('start, phases, each hook traced, and the end with the summary', async t => {
  const events: string[] = []
  const payloads: Record<string, any> = {}
  const on = (name: string) => (message: any) => { events.push(name); payloads[name] = message }
  const subscriptions: Array<[string, (message: unknown) => void]> = [
    ['fastify-graceful.shutdown.start', on('start')],
    ['fastify-graceful.shutdown.phase', (message: any) => events.push(`${message.phase}:${message.event}`)],
    ['fastify-graceful.shutdown.end', on('end')]
  ]
  for (const [name, fn] of subscriptions) dc.subscribe(name, fn)
  const hookTraces: any[] = []
  const tracer = {
    start: (context: any) => events.push(`hook ${context.name}:start`),
    end: () => {},
    asyncStart: () => {},
    asyncEnd: (context: any) => { events.push(`hook ${context.name}:asyncEnd`); hookTraces.push({ ...context }) },
    error: () => {}
  }
  dc.tracingChannel('fastify-graceful.shutdown.hook').subscribe(tracer)
  t.teardown(() => {
    for (const [name, fn] of subscriptions) dc.unsubscribe(name, fn)
    dc.tracingChannel('fastify-graceful.shutdown.hook').unsubscribe(tracer)
  })

  const { app } = await build({ hookTimeout: 50 })
  app.addShutdownHook('db', async () => {})
  app.addShutdownHook('stuck', () => new Promise(() => {}))
  const { arrived, reached } = arrival()
  app.get('/slow', async () => { arrived(); await sleep(30); return 'ok' })
  const slow = app.inject('/slow')
  await reached
  await app.close()
  await slow

  // The hooks come before Fastify's own close step (and every other plugin's onClose hook).
  t.same(events, ['start', 'drain:start', 'drain:end', 'hooks:start', 'hook stuck:start', 'hook stuck:asyncEnd',
    'hook db:start', 'hook db:asyncEnd', 'hooks:end', 'close:start', 'close:end', 'end'])
  t.match(payloads.start, { fastify: app, cause: 'close', inflight: 1, timeout: 30_000, delay: 0, error: undefined })
  t.match(hookTraces[0], { fastify: app, name: 'stuck', limitMs: 50, outcome: 'timeout', error: { code: 'FST_GRACEFUL_HOOK_TIMEOUT' } })
  t.match(hookTraces[1], { name: 'db', outcome: 'ok', durationMs: Number })
  t.notOk('error' in hookTraces[1])
  t.match(payloads.end, { fastify: app, summary: { cause: 'close', exitCode: 1, hooks: { ok: 1, timedOut: 1 } } })
})

t.test('in a real process: a crash\'s start carries the error; the delay window has its own phase', async t => {
  const { start } = await import('../helpers/child.ts')
  const { request } = await import('../helpers/http.ts')
  const crash = await start('app.ts', { channels: true, options: { timeout: 5000 } }, t)
  await request(crash.ports[0]!, '/crash')
  t.equal((await crash.exited()).code, 1)
  t.match(crash.lines.find(line => line.channel === 'start'), { cause: 'error', error: 'boom from a timer' })
  t.match(crash.lines.find(line => line.channel === 'end'), { exitCode: 1 })

  // The start's subscribers hold the main thread 100 ms: the window still counts from the signal, in the rule and in
  // the summary.
  const delayed = await start('app.ts', { channels: true, slowStartSubscriber: 100, options: { delay: 200, timeout: 3000 } }, t)
  delayed.process.kill('SIGTERM')
  t.equal((await delayed.exited()).code, 0)
  const phases = delayed.lines.filter(line => line.channel === 'phase').map(line => `${line.phase}:${line.event}`)
  t.same(phases.slice(0, 3), ['delay:start', 'delay:end', 'drain:start'])
  const delayEnd = delayed.lines.find(line => line.phase === 'delay' && line.event === 'end')!
  t.ok(delayEnd.elapsedMs >= 190, `the delay phase ended ${delayEnd.elapsedMs} ms after the start`)
  const end = delayed.lines.find(line => line.channel === 'end')
  t.ok(end?.delay >= 190, `the summary's delay: ${JSON.stringify(end)}`)
})

t.test('two instances: a subscriber\'s error is logged by the instance whose event it was given', async t => {
  const first = await build()
  const second = await build()
  const throwing = (message: unknown): void => {
    throw new Error(`subscriber threw for ${(message as { fastify: unknown }).fastify === first.app ? 'first' : 'second'}`)
  }
  dc.subscribe(CHANNELS.start, throwing)
  t.teardown(() => dc.unsubscribe(CHANNELS.start, throwing))
  const draining = [first.app.drain(), second.app.drain()]
  await Promise.all(draining)
  await Promise.all([first.app.close(), second.app.close()])
  const errors = (logs: Array<Record<string, any>>): string[] => logs
    .filter(line => line.graceful?.event === 'subscriber-error').map(line => line.err.message)
  t.same(errors(first.logs), ['subscriber threw for first'])
  t.same(errors(second.logs), ['subscriber threw for second'])
})
