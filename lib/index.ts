import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { beforeFastifyCloses } from './close-order.ts'
import { realClock } from './clock.ts'
import { watchConnections } from './connections.ts'
import { createConsumers, type ShutdownConsumer, type ShutdownConsumerOptions } from './consumers.ts'
import type { DrainResult } from './drain.ts'
import { createGate } from './gate.ts'
import { addHealthRoutes } from './health.ts'
import { createHooks, type ShutdownHook, type ShutdownHookOptions } from './hooks.ts'
import { createInflight } from './inflight.ts'
import { watchInjects } from './injects.ts'
import { createLastCall } from './last-call.ts'
import { refusesWhileClosing, resolveOptions, type FastifyGracefulOptions } from './options.ts'
import { warnAboutNeighbours } from './neighbours.ts'
import { watchOnResponse } from './on-response.ts'
import { watchOutsideRoutes } from './outside.ts'
import type { Progress } from './phase.ts'
import { createReporter } from './report.ts'
import { createSequence } from './sequence.ts'
import { enroll, signalReady, warnInWorkerThread } from './signals.ts'
import { createTraffic, SAMPLE_WINDOW_MS } from './traffic.ts'
import { createWork } from './work.ts'

export type { ShutdownConsumer, ShutdownConsumerOptions } from './consumers.ts'
export type { DrainResult } from './drain.ts'
export type {
  ShutdownCause, ShutdownHook, ShutdownHookContext, ShutdownHookOptions, ShutdownHookPhase
} from './hooks.ts'
export type { FastifyGracefulOptions, HealthOptions, ShutdownSignal } from './options.ts'
export type { ShutdownSummary } from './report.ts'
export type { WorkResult } from './work.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** True from the first moment of a shutdown (signal, crash, app.drain() or app.close()). */
    readonly isShuttingDown: boolean
    /** Aborts when admission closes (after the delay window): end streams and long polls on it. */
    readonly shutdownSignal: AbortSignal
    /** Close admission and wait (bounded) for the requests in flight; the instance stays open. */
    drain (): Promise<DrainResult>
    /** Cleanup to run after the last request, in reverse order of registration, each within its own time limit. */
    addShutdownHook (fn: ShutdownHook, options?: ShutdownHookOptions): void
    addShutdownHook (name: string, fn: ShutdownHook, options?: ShutdownHookOptions): void
    /** Keep the shutdown waiting for work no request started, until the drain deadline. */
    waitUntil (promise: PromiseLike<unknown>): void
    /**
     * A queue consumer: paused at the first moment of a shutdown, its work waited for until the drain deadline (then
     * cancelled, to hand it back), closed with the shutdown hooks, before other plugins close their clients.
     */
    addConsumer (name: string, consumer: ShutdownConsumer, options?: ShutdownConsumerOptions): void
  }
  interface FastifyRequest {
    /** Keep the shutdown waiting for work that outlives this request's response, until the drain deadline. */
    waitUntil (promise: PromiseLike<unknown>): void
  }
}

const plugin: FastifyPluginAsync<FastifyGracefulOptions> = async function fastifyGraceful (
  fastify: FastifyInstance, rawOptions
) {
  const options = resolveOptions(rawOptions as Record<string, unknown>)
  // The one clock every rule reads and waits on.
  const clock = realClock
  // Where the shutdown stands, for the parts that read it: the sequence, made last, is asked only once it exists.
  const progress = (): Progress => sequence
  const connections = watchConnections(fastify, fastify.initialConfig.http2 === true)
  const traffic = createTraffic(options.kubernetes, clock)
  const inflight = createInflight(connections.http1Sockets, SAMPLE_WINDOW_MS, watchOnResponse(fastify),
    traffic.windowEnded)
  const lastCall = createLastCall()
  const reporter = createReporter(fastify)
  const outside = watchOutsideRoutes(fastify, reporter.outsideGate)
  const injects = watchInjects(fastify, progress)
  const gate = createGate({
    inflight,
    lastCall,
    http1Sockets: connections.http1Sockets,
    retryAfter: options.retryAfter,
    refuseWhenClosed: refusesWhileClosing(fastify),
    gated: outside.gated,
    arrived: traffic.arrived,
    issuedEarly: injects.issuedEarly
  })
  const hooks = createHooks(options.hookTimeout, clock, progress)
  const work = createWork(clock, progress)
  const consumers = createConsumers(hooks, progress)
  const parts = { gate, inflight, hooks, connections, lastCall, reporter, work, outside, injects, traffic, consumers }
  const sequence = createSequence(fastify, options, parts, clock)

  fastify.decorate('isShuttingDown', { getter: () => sequence.isShuttingDown })
  fastify.decorate('shutdownSignal', gate.signal)
  fastify.decorate('drain', () => sequence.drain())
  fastify.decorate('addShutdownHook', (nameOrFn: unknown, fnOrOptions?: unknown, maybeOptions?: unknown) =>
    hooks.add(nameOrFn, fnOrOptions, maybeOptions))
  fastify.decorate('waitUntil', (promise: unknown) => work.add(promise, 'app', fastify.log))
  fastify.decorate('addConsumer', (name: unknown, consumer: unknown, consumerOptions?: unknown) =>
    consumers.add(name, consumer, consumerOptions))
  // One function on the request prototype: nothing is allocated per request unless waitUntil is called.
  // Taken off the request (`const { waitUntil } = request`), it has no `this`: the work is kept all the same.
  fastify.decorateRequest('waitUntil', function (this: FastifyRequest | undefined, promise: unknown) {
    work.add(promise, 'request', this?.log ?? fastify.log)
  })

  // One onRequest hook, not two: each is one more pass through Fastify's hook runner on every request
  // (bench/README.md).
  fastify.addHook('onRequest', gate.onRequest)
  fastify.addHook('onListen', async () => connections.listened())
  fastify.addHook('preClose', sequence.preClose)
  // app.close() drains and runs the shutdown hooks first, ahead of Fastify's own close step and of every other
  // plugin's onClose hook (the assumption is named in lib/close-order.ts).
  beforeFastifyCloses(fastify, sequence.beforeFastifyCloses)
  if (options.health !== false) addHealthRoutes(fastify, options.health, () => !sequence.isShuttingDown, traffic)

  let leave = (): void => {}
  if (options.signals !== false) {
    const signals = options.signals
    warnInWorkerThread(signals, reporter.warning)
    let ready = false
    // Listening from registration on: a signal while later plugins still load runs the hooks registered so far.
    leave = enroll({
      signals,
      timeout: options.timeout,
      exit: options.exit,
      shutdown: (cause, error) => ready ? sequence.shutdown(cause, error) : sequence.duringStartup(cause, error),
      flush: () => reporter.flush(Math.max(0, Math.min(sequence.remaining(), 1000))),
      interrupted: reporter.interrupted,
      uncaught: reporter.uncaught,
      quiet: () => !hooks.has('preDrain') && !hooks.has('postDrain') && consumers.size === 0 && connections.quiet()
    })
    fastify.addHook('onReady', async () => {
      ready = true
      warnAboutNeighbours(signals, options.timeout, reporter.warning)
    })
    fastify.addHook('onListen', async () => signalReady())
  }
  fastify.addHook('onClose', async () => {
    leave()
    await sequence.onClose()
  })
}

export const fastifyGraceful = fp(plugin, { fastify: '5.x', name: 'fastify-graceful' })
export default fastifyGraceful

// require('fastify-graceful') gives the plugin itself, with the named exports on it as well.
Object.assign(fastifyGraceful, { default: fastifyGraceful, fastifyGraceful })
export { fastifyGraceful as 'module.exports' }
