// A CommonJS TypeScript consumer (module node16): require('fastify-graceful') is the plugin, fully typed.
import Fastify = require('fastify')
import graceful = require('fastify-graceful')

const app = Fastify()
app.register(graceful, { timeout: 25_000, health: true })
app.register(graceful.fastifyGraceful, { signals: false })
app.register(graceful.default)
// @ts-expect-error timeout is a number of milliseconds
app.register(graceful, { timeout: '25s' })

const options: graceful.FastifyGracefulOptions = { delay: 1000, retryAfter: false }
app.register(graceful, options)

app.addShutdownHook('db pool', async ({ signal, cause }: graceful.ShutdownHookContext) => {
  const aborted: boolean = signal.aborted
  const why: graceful.ShutdownCause = cause
  return [aborted, why]
})
const worker: graceful.ShutdownConsumer = { pause: async () => {}, close: async () => {} }
app.addConsumer('orders worker', worker, { timeout: 5000 } satisfies graceful.ShutdownConsumerOptions)
const shuttingDown: boolean = app.isShuttingDown
const stop: AbortSignal = app.shutdownSignal
app.drain().then((result: graceful.DrainResult) => result.completed + result.cut)
// @ts-expect-error isShuttingDown is read-only
app.isShuttingDown = true

export = { shuttingDown, stop }
