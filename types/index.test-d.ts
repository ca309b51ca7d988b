import fastify from 'fastify'
import { expectAssignable, expectError, expectType } from 'tsd'
import graceful, { fastifyGraceful, type DrainResult, type FastifyGracefulOptions, type ShutdownConsumer, type ShutdownHookContext, type ShutdownHookPhase, type ShutdownSummary, type WorkResult } from 'fastify-graceful'

const app = fastify()

expectType<typeof graceful>(fastifyGraceful)
app.register(graceful)
app.register(graceful, { timeout: 30_000, hookTimeout: 10_000, signals: ['SIGTERM', 'SIGINT'], exit: true, retryAfter: 5 })
app.register(graceful, { signals: false, retryAfter: false })
expectError(app.register(graceful, { timeout: '30s' }))
expectError(app.register(graceful, { signals: ['SIGFOO'] }))
expectError(app.register(graceful, { signals: true }))
expectError(app.register(graceful, { retryAfter: true }))
expectError(app.register(graceful, { exit: 'yes' }))
expectAssignable<FastifyGracefulOptions>({ timeout: 1 })

expectType<boolean>(app.isShuttingDown)
expectError(app.isShuttingDown = true)
expectType<Promise<DrainResult>>(app.drain())
app.drain().then(result => {
  expectType<number>(result.inflight)
  expectType<number>(result.completed)
  expectType<number>(result.cut)
  expectType<number>(result.refused)
  expectType<number>(result.durationMs)
  expectType<boolean>(result.timedOut)
})

app.addShutdownHook(async ({ signal, cause }) => {
  expectType<AbortSignal>(signal)
  expectType<string>(cause)
})
app.addShutdownHook('db', async context => { expectType<ShutdownHookContext>(context) }, { timeout: 5000 })
app.addShutdownHook(() => {})
app.addShutdownHook('sync', () => 42)
expectError(app.addShutdownHook('db'))
expectError(app.addShutdownHook('db', async () => {}, { timeout: '5s' }))
expectError(app.addShutdownHook('db', async () => {}, { limit: 5 }))
expectError(app.addShutdownHook(42, async () => {}))
app.addShutdownHook('deregister from Consul', async () => {}, { phase: 'preDrain' })
app.addShutdownHook('db', async () => {}, { phase: 'postDrain', timeout: 5000 })
expectError(app.addShutdownHook('db', async () => {}, { phase: 'early' }))
expectAssignable<ShutdownHookPhase>('preDrain')

expectType<void>(app.waitUntil(Promise.resolve()))
expectError(app.waitUntil('later'))
app.get('/signup', async request => {
  expectType<void>(request.waitUntil(fetch('http://mailer.local')))
  expectError(request.waitUntil())
  return 'ok'
})
expectType<WorkResult>({} as ShutdownSummary['work'])
expectType<number>(({} as ShutdownSummary).work.cut)
expectType<number>(({} as ShutdownSummary).preDrainHooks.timedOut)

app.register(async child => {
  child.addShutdownHook('from a child plugin', async () => {})
  expectType<boolean>(child.isShuttingDown)
})

// Queue consumers: paused at the signal, cancelled at the drain deadline, closed with the hooks.
app.addConsumer('orders worker', { pause: async () => {}, cancel: () => {}, close: async () => {} })
app.addConsumer('poller', { pause: () => {} }, undefined)
app.addConsumer('orders worker', { pause: async () => {}, close: async () => {} }, { timeout: 5000 })
expectAssignable<ShutdownConsumer>({ pause: async () => true, close: () => 42 })
expectError(app.addConsumer({ pause: async () => {} }))
expectError(app.addConsumer('orders', { close: async () => {} }))
expectError(app.addConsumer('orders', { pause: async () => {} }, { timeout: '5s' }))
