import type { FastifyInstance } from 'fastify'
import { performance } from 'node:perf_hooks'
import {
  endChannel, hookChannel, isolated, openWindow, phaseChannel, startChannel
} from './channels.ts'
import type { LeftOpen } from './connections.ts'
import type { DrainResult } from './drain.ts'
import type { HookOutcome, Observer, ShutdownCause } from './hooks.ts'
import type { HandOverEnd } from './traffic.ts'
import type { WorkResult } from './work.ts'
import { withTimeout } from './timeout.ts'

const SERVED: Record<HandOverEnd, string> = {
  quiet: 'the health checkers were answered 503 and the traffic stopped',
  'nobody watching': 'no health checker polled readiness before the signal: a balancer learns from the refusal',
  bound: 'the traffic did not stop before maxDelay',
  'cut short': 'the drain was asked for'
}

export interface ShutdownSummary {
  cause: ShutdownCause
  exitCode: 0 | 1
  /**
   * Phase durations in ms: the delay window (counted from the signal), pre-drain hooks, drain, waitUntil work, closing
   * the server, shutdown hooks, and all of it.
   */
  durationMs: {
    total: number, delay: number, preDrain: number, drain: number, work: number, close: number, hooks: number
  }
  /** Requests that finished during the drain, were refused with 503, or were cut at the deadline. */
  requests: { drained: number, refused: number, cut: number }
  hooks: { ok: number, failed: number, timedOut: number }
  /** The hooks registered with { phase: 'preDrain' }, run at the start of the shutdown. */
  preDrainHooks: { ok: number, failed: number, timedOut: number }
  /**
   * Work passed to waitUntil() after admission closed: finished, rejected, or still running at the drain
   * deadline.
   */
  work: WorkResult
}

export type Phase = 'delay' | 'preDrain' | 'drain' | 'work' | 'close' | 'hooks'

export interface Facts {
  cause: ShutdownCause
  crashed: boolean
  closeFailed: boolean
  drain: DrainResult
  refusedLater: number
  hooks: HookOutcome[]
  work: WorkResult
  durationMs: ShutdownSummary['durationMs']
}

/** What the shutdown tells the world: log lines through fastify.log, and the same events on diagnostics channels. */
export interface Reporter {
  start (cause: ShutdownCause, inflight: number, error: unknown, budget: { timeout: number, delay: number }): void
  phase (phase: Phase, event: 'start' | 'end'): void
  /** The serving after the signal ended (lib/traffic.ts says why), `ms` after the signal. */
  served (ended: HandOverEnd, ms: number): void
  /** Runs one hook inside its trace, when somebody traces hooks; logs its outcome either way. */
  hook: Observer
  summary (facts: Facts): ShutdownSummary
  /** Lets a log transport write out the last lines before the process exits, within `ms`. */
  flush (ms: number): Promise<void>
  /** The drain deadline came while these consumers still had work: they were told to hand it back. */
  cancelled (consumers: ReadonlyArray<{ name: string, error?: unknown }>): void
  /** Fastify's close() (its own step, then the other plugins' onClose hooks) was still running at the deadline. */
  closeOverran (): void
  /** Connections still open at the drain deadline, in the close phase, were closed: what they were, when any. */
  forceClosed (left: LeftOpen): void
  /** A second signal: the process ends at once. */
  interrupted (what: string): void
  /** An uncaught error once the shutdown is under way: logged with its stack, exit code 1. */
  uncaught (error: unknown): void
  /**
   * Something at startup that will spoil a shutdown: a log line and a process warning (seen whatever the log
   * level).
   */
  warning (message: string, code?: string): void
  /** A request answered during the shutdown by a route the gate does not cover: a log line and a process warning. */
  outsideGate (message: string): void
}

const round = (value: number): number => Math.round(value * 10) / 10

/** Exit code 0 only when nothing was cut, nothing failed and nothing crashed. */
export function summarize (facts: Facts): ShutdownSummary {
  const tally = (phase: HookOutcome['phase']): ShutdownSummary['hooks'] => {
    const count = (outcome: HookOutcome['outcome']): number =>
      facts.hooks.filter(hook => hook.phase === phase && hook.outcome === outcome).length
    return { ok: count('ok'), failed: count('failed'), timedOut: count('timeout') }
  }
  const hooks = tally('postDrain')
  const preDrainHooks = tally('preDrain')
  const { work } = facts
  const clean = !facts.crashed && !facts.closeFailed && !facts.drain.timedOut && work.failed + work.cut === 0 &&
    facts.hooks.every(hook => hook.outcome === 'ok')
  const durationMs = Object.fromEntries(Object.entries(facts.durationMs).map(([phase, value]) => [phase, round(value)]))
  return {
    cause: facts.cause,
    exitCode: clean ? 0 : 1,
    durationMs: durationMs as ShutdownSummary['durationMs'],
    requests: { drained: facts.drain.completed, refused: facts.refusedLater, cut: facts.drain.cut },
    hooks,
    preDrainHooks,
    work: { ...work }
  }
}

type Level = 'info' | 'warn' | 'error'
type Log = Record<Level, (details: object, message: string) => void>

/** Logging is best effort: a logger that throws (an ended destination, say) must never fail a shutdown. */
function bestEffort (logger: FastifyInstance['log']): Log {
  const write = (level: Level) => (details: object, message: string): void => {
    try {
      logger[level](details, message)
    } catch {}
  }
  return { info: write('info'), warn: write('warn'), error: write('error') }
}

/** Errors during a shutdown logged in full; a crash loop beyond this is counted in one last line. */
export const LOGGED_ERRORS = 10

export function createReporter (fastify: FastifyInstance): Reporter {
  const log = bestEffort(fastify.log)
  let startedAt = 0
  let uncaughtErrors = 0
  const subscriberThrew = (error: unknown): void => {
    log.warn({ graceful: { event: 'subscriber-error' }, err: error },
      'a diagnostics_channel subscriber threw during the graceful shutdown: ignored')
  }

  function logHook (hook: HookOutcome, ranBefore: readonly string[]): void {
    const graceful = {
      event: 'hook', hook: hook.name, phase: hook.phase, outcome: hook.outcome, durationMs: round(hook.durationMs)
    }
    const line = `${hook.phase === 'preDrain' ? 'pre-drain ' : ''}shutdown hook "${hook.name}" ${hook.outcome} ` +
      `after ${Math.round(hook.durationMs)} ms`
    if (hook.outcome === 'ok') {
      log.info({ graceful }, line)
      return
    }
    // A hook that meets a client already closed: the order it ran in is the first thing to check.
    const order = ranBefore.length === 0
      ? 'it ran first'
      : `it ran after ${ranBefore.map(name => `"${name}"`).join(', ')} (hooks run in reverse order of registration)`
    const cause = hook.error instanceof Error ? `: ${hook.error.message}` : ''
    log.error({ graceful: { ...graceful, ranBefore }, err: hook.error }, `${line} (${order})${cause}`)
  }

  return {
    start (cause, inflight, error, { timeout, delay }) {
      startedAt = performance.now()
      const graceful = { event: 'start', cause, inflight }
      if (error === undefined) {
        log.info({ graceful }, `graceful shutdown started by ${cause}: ${inflight} request(s) in flight`)
      } else {
        log.error({ graceful, err: error },
          `graceful shutdown started by an uncaught error: ${inflight} request(s) in flight`)
      }
      if (startChannel.hasSubscribers) {
        isolated(subscriberThrew, () => startChannel.publish({ fastify, cause, inflight, timeout, delay, error }))
      }
    },

    served (ended, ms) {
      log.info({ graceful: { event: 'served', ended, durationMs: round(ms) } },
        `served for ${Math.round(ms)} ms after the signal (${SERVED[ended]}): the port closes`)
    },

    phase (phase, event) {
      if (phaseChannel.hasSubscribers) {
        isolated(subscriberThrew, () =>
          phaseChannel.publish({ fastify, phase, event, elapsedMs: round(performance.now() - startedAt) }))
      }
    },

    async hook (name, limitMs, run, ranBefore) {
      let outcome: HookOutcome
      if (hookChannel.hasSubscribers) {
        const context: Record<string, unknown> = { fastify, name, limitMs: round(limitMs) }
        // The trace wraps the hook's race against its limit, so a hook that never settles still ends its trace.
        let close: (() => void) | undefined
        outcome = await isolated(subscriberThrew, () => hookChannel.tracePromise(async () => {
          const result = await run()
          Object.assign(
            context,
            { phase: result.phase, outcome: result.outcome, durationMs: round(result.durationMs) },
            result.error === undefined ? {} : { error: result.error }
          )
          // asyncStart and asyncEnd are published from the reaction to this promise.
          close = openWindow(subscriberThrew)
          return result
        }, context))
        close!()
      } else {
        outcome = await run()
      }
      logHook(outcome, ranBefore)
      return outcome
    },

    summary (facts) {
      const skipped = facts.hooks.filter(hook => hook.skipped === true).map(hook => hook.name)
      if (skipped.length > 0) {
        const names = skipped.slice(0, 10).map(name => `"${name}"`).join(', ') + (skipped.length > 10 ? ', …' : '')
        log.error({ graceful: { event: 'hooks-skipped', hooks: skipped.length } },
          `${skipped.length} shutdown hook(s) not run: the deadline was reached before their turn (${names})`)
      }
      const summary = summarize({ ...facts, crashed: facts.crashed || uncaughtErrors > 0 })
      const { durationMs: d, requests: r, hooks: h, preDrainHooks: p, work: w } = summary
      const line = `graceful shutdown complete in ${Math.round(d.total)} ms (exit code ${summary.exitCode}): ` +
        `${r.drained} drained, ${r.refused} refused, ${r.cut} cut; ` +
        `hooks ${h.ok} ok, ${h.failed} failed, ${h.timedOut} timed out` +
        (p.ok + p.failed + p.timedOut > 0
          ? `; pre-drain hooks ${p.ok} ok, ${p.failed} failed, ${p.timedOut} timed out`
          : '') +
        (w.finished + w.failed + w.cut > 0 ? `; work ${w.finished} finished, ${w.failed} failed, ${w.cut} cut` : '')
      if (summary.exitCode === 0) log.info({ graceful: { event: 'end', ...summary } }, line)
      else log.warn({ graceful: { event: 'end', ...summary } }, line)
      if (endChannel.hasSubscribers) {
        isolated(subscriberThrew, () => endChannel.publish({ fastify, summary }))
      }
      return summary
    },

    cancelled (consumers) {
      for (const { name, error } of consumers) {
        const graceful = { event: 'consumer', consumer: name, outcome: error === undefined ? 'cancelled' : 'failed' }
        if (error === undefined) {
          log.warn({ graceful }, `consumer "${name}" still had work at the drain deadline: ` +
            'cancel() was called, to hand it back to its queue')
        } else {
          log.error({ graceful, err: error }, `consumer "${name}": cancel() failed at the drain deadline`)
        }
      }
    },

    closeOverran () {
      log.error({ graceful: { event: 'close', outcome: 'timeout' } },
        'fastify.close() was still running at the deadline: an onClose hook of another plugin ' +
          '(a client\'s close, say) did not finish')
    },

    forceClosed ({ http1, http2, handshaking }) {
      const total = http1 + http2 + handshaking
      if (total === 0) return
      log.warn({ graceful: { event: 'force-close', connections: { http1, http2, handshaking } } },
        `${total} connection(s) still open at the drain deadline closed (HTTP/1: ${http1}, HTTP/2: ${http2}, ` +
          `TLS handshakes: ${handshaking}): a client that neither finished a request nor closed its connection`)
    },

    interrupted (what) {
      log.error({ graceful: { event: 'interrupted', cause: what } },
        `${what} during the graceful shutdown: exiting at once with code 1`)
    },

    uncaught (error) {
      uncaughtErrors++
      if (uncaughtErrors <= LOGGED_ERRORS) {
        log.error({ graceful: { event: 'uncaught' }, err: error },
          'uncaught error during the graceful shutdown: the shutdown goes on within its deadline, exit code 1')
      } else if (uncaughtErrors === LOGGED_ERRORS + 1) {
        log.error({ graceful: { event: 'uncaught' } },
          `more than ${LOGGED_ERRORS} uncaught errors during the graceful shutdown: the next ones are not logged`)
      }
    },

    warning (message, code = 'FST_GRACEFUL_SIGNAL_LISTENER') {
      log.warn({ graceful: { event: 'warning' } }, message)
      process.emitWarning(message, { code })
    },

    outsideGate (message) {
      log.warn({ graceful: { event: 'warning' } }, message)
      process.emitWarning(message, { code: 'FST_GRACEFUL_ENCAPSULATED' })
    },

    async flush (ms) {
      const flushable = fastify.log as { flush?: (done: (error?: Error) => void) => void }
      if (typeof flushable.flush !== 'function') return
      await withTimeout(new Promise<void>(resolve => { flushable.flush!(() => resolve()) }), ms)
    }
  }
}
