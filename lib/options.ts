import {
  FST_GRACEFUL_DELAY_TOO_LONG, FST_GRACEFUL_INVALID_OPTION, FST_GRACEFUL_UNKNOWN_OPTION, show
} from './errors.ts'
import { fastifyInternal } from './private.ts'

/** Signals a shutdown can be bound to: the ones process managers send to ask a process to stop. */
export const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'] as const
export type ShutdownSignal = typeof SHUTDOWN_SIGNALS[number]

export interface FastifyGracefulOptions {
  /** Hard deadline in ms from the start of shutdown to exit. Default 30000. */
  timeout?: number
  /** Default time limit in ms for each shutdown hook. Default 10000. */
  hookTimeout?: number
  /** Signals that start a shutdown; false installs no process listener at all. Default ['SIGTERM', 'SIGINT']. */
  signals?: ShutdownSignal[] | false
  /** Exit the process after a shutdown caused by a signal or a crash. Default true. */
  exit?: boolean
  /** Seconds for the Retry-After header of refused requests; false omits the header. Default 1. */
  retryAfter?: number | false
  /**
   * The least ms to keep serving after a signal, with readiness failing and every response carrying Connection: close,
   * before admission closes. Default 0, or 5000 when KUBERNETES_SERVICE_HOST is set. Counts against `timeout`.
   */
  delay?: number
  /**
   * The most ms to keep serving after a signal while the balancers still send traffic: at this bound the port closes
   * anyway. Default 10000 (less when `timeout` leaves less room). Counts against `timeout`.
   */
  maxDelay?: number
  /** Readiness and liveness routes; default false: no route is added. */
  health?: boolean | HealthOptions
}

export interface HealthOptions {
  /** Default '/health/ready'. */
  readiness?: string
  /** Default '/health/live'. */
  liveness?: string
  /** Readiness also fails (503) while this throws, rejects, resolves or returns `false`, or takes over a second. */
  check?: () => unknown
}

export interface ResolvedOptions {
  timeout: number
  hookTimeout: number
  signals: ShutdownSignal[] | false
  exit: boolean
  retryAfter: number | false
  delay: number
  maxDelay: number
  /** KUBERNETES_SERVICE_HOST was set: kube-proxy keeps sending until the endpoint removal reaches the node. */
  kubernetes: boolean
  health: ResolvedHealth | false
}

export interface ResolvedHealth {
  readiness: string
  liveness: string
  check: (() => unknown) | null
}

export const DEFAULTS: ResolvedOptions = {
  timeout: 30_000,
  hookTimeout: 10_000,
  signals: ['SIGTERM', 'SIGINT'],
  exit: true,
  retryAfter: 1,
  delay: 0,
  maxDelay: 10_000,
  kubernetes: false,
  health: false
}

/**
 * Kubernetes removes a terminating pod from its endpoints while SIGTERM is already on its way: keep serving
 * meanwhile.
 */
export const KUBERNETES_DELAY = 5000
const HEALTH_DEFAULTS = { readiness: '/health/ready', liveness: '/health/live' }

/** Node clamps longer timers to 1 ms, so a longer time would silently mean "now". */
const MAX_TIMER = 2 ** 31 - 1

/** Options Fastify itself reads from every register() call and passes on to the plugin. */
const REGISTER_OPTIONS = ['prefix', 'logLevel', 'logSerializers']

function invalid (name: string, expected: string, value: unknown): Error {
  return new FST_GRACEFUL_INVALID_OPTION(name, expected, show(value))
}

/** A duration in ms: a finite number above 0 that a Node timer can hold. */
export function checkDuration (name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_TIMER) {
    throw invalid(name, `a number of milliseconds above 0 and at most ${MAX_TIMER}`, value)
  }
  return value
}

function checkSignals (value: unknown): ShutdownSignal[] | false {
  if (value === false) return false
  const expected = `false or an array of ${SHUTDOWN_SIGNALS.join(', ')}`
  if (!Array.isArray(value)) throw invalid('signals', expected, value)
  for (const signal of value) {
    if (!(SHUTDOWN_SIGNALS as readonly unknown[]).includes(signal)) throw invalid('signals', expected, signal)
  }
  return [...new Set(value as ShutdownSignal[])]
}

function checkRetryAfter (value: unknown): number | false {
  if (value === false) return false
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid('retryAfter', 'false or a whole number of seconds, 0 or more', value)
  }
  return value
}

function checkDelay (name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_TIMER) {
    throw invalid(name, `a number of milliseconds from 0 to ${MAX_TIMER}`, value)
  }
  return value
}

function checkPath (name: string, value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/')) throw invalid(name, 'a path starting with "/"', value)
  return value
}

function checkHealth (value: unknown): ResolvedHealth | false {
  if (value === false) return false
  if (value === true) return { ...HEALTH_DEFAULTS, check: null }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid('health', 'true, false or an object { readiness, liveness, check }', value)
  }
  const { readiness, liveness, check, ...unknown } = value as Record<string, unknown>
  const extra = Object.keys(unknown)[0]
  if (extra !== undefined) {
    throw new FST_GRACEFUL_UNKNOWN_OPTION(`health.${extra}`, show(unknown[extra]), 'readiness, liveness, check')
  }
  if (check !== undefined && typeof check !== 'function') throw invalid('health.check', 'a function', check)
  const resolved = {
    readiness: checkPath('health.readiness', readiness ?? HEALTH_DEFAULTS.readiness),
    liveness: checkPath('health.liveness', liveness ?? HEALTH_DEFAULTS.liveness),
    check: (check ?? null) as (() => unknown) | null
  }
  if (resolved.readiness === resolved.liveness) {
    throw invalid(
      'health.liveness', `a path other than health.readiness (${show(resolved.readiness)})`, resolved.liveness
    )
  }
  return resolved
}

/** What must be left after the delay window: one hook's default limit, or half the timeout if that is less. */
function roomAfterDelay (timeout: number, hookTimeout: number): number {
  return Math.min(hookTimeout, timeout / 2)
}

function checkBoolean (name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalid(name, 'true or false', value)
  return value
}

/**
 * Fastify's own `return503OnClosing` (default true), which it keeps to itself: false asks that requests arriving while
 * the server closes are still served, so the gate serves them too (each with Connection: close, within the drain's
 * time).
 */
export function refusesWhileClosing (fastify: object): boolean {
  return fastifyInternal<{ return503OnClosing?: unknown }>(fastify, 'fastify.options')?.return503OnClosing !== false
}

/** Defaults filled in and every value checked, so that nothing wrong waits until a shutdown to surface. */
export function resolveOptions (options: Record<string, unknown>): ResolvedOptions {
  const known = Object.keys(DEFAULTS).filter(name => name !== 'kubernetes')
  for (const name of Object.keys(options)) {
    if (!known.includes(name) && !REGISTER_OPTIONS.includes(name)) {
      throw new FST_GRACEFUL_UNKNOWN_OPTION(name, show(options[name]), known.join(', '))
    }
  }
  const given = (name: keyof ResolvedOptions): unknown => options[name] === undefined ? DEFAULTS[name] : options[name]
  const onKubernetes = process.env.KUBERNETES_SERVICE_HOST !== undefined
  const resolved: ResolvedOptions = {
    timeout: checkDuration('timeout', given('timeout')),
    hookTimeout: checkDuration('hookTimeout', given('hookTimeout')),
    signals: checkSignals(given('signals')),
    exit: checkBoolean('exit', given('exit')),
    retryAfter: checkRetryAfter(given('retryAfter')),
    delay: checkDelay(
      'delay',
      options.delay === undefined ? (onKubernetes ? KUBERNETES_DELAY : DEFAULTS.delay) : options.delay
    ),
    maxDelay: options.maxDelay === undefined ? DEFAULTS.maxDelay : checkDelay('maxDelay', options.maxDelay),
    kubernetes: onKubernetes,
    health: checkHealth(given('health'))
  }
  const room = roomAfterDelay(resolved.timeout, resolved.hookTimeout)
  const latest = resolved.timeout - room
  if (resolved.delay > latest) {
    const why = options.delay === undefined ? ' (the default on Kubernetes, where KUBERNETES_SERVICE_HOST is set)' : ''
    throw new FST_GRACEFUL_DELAY_TOO_LONG('delay', resolved.delay, why, resolved.timeout, room, 'delay', 'delay')
  }
  if (options.maxDelay === undefined) {
    // The default bound gives way to a short timeout, and never ends the serving before `delay` does.
    resolved.maxDelay = Math.max(resolved.delay, Math.min(DEFAULTS.maxDelay, latest))
  } else if (resolved.maxDelay > latest) {
    throw new FST_GRACEFUL_DELAY_TOO_LONG(
      'maxDelay', resolved.maxDelay, '', resolved.timeout, room, 'maxDelay', 'maxDelay'
    )
  } else if (resolved.maxDelay < resolved.delay) {
    throw invalid('maxDelay', `at least delay (${resolved.delay} ms)`, resolved.maxDelay)
  }
  return resolved
}
