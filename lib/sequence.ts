import type { FastifyInstance } from 'fastify'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { closeAllConnections } from './connections.ts'
import { drain, type DrainResult } from './drain.ts'
import type { Gate } from './gate.ts'
import type { Hooks, ShutdownCause } from './hooks.ts'
import type { Inflight } from './inflight.ts'
import type { ResolvedOptions } from './options.ts'
import { reportHook, reportStart, reportSummary, summarize, type ShutdownSummary } from './report.ts'

/** Kept free at the end of the budget for the summary line and the exit itself. */
export function exitMargin (timeout: number): number {
  return Math.min(100, timeout * 0.05)
}

export interface Sequence {
  readonly isShuttingDown: boolean
  /** The signal path: delay window, drain, then fastify.close() (which runs the hooks), then the exit code. */
  shutdown (cause: ShutdownCause, error?: unknown): Promise<number>
  /** app.drain(): the drain phase on its own; the instance stays open. */
  drain (): Promise<DrainResult>
  /** Fastify's preClose: drain before the server stops listening. */
  preClose (): Promise<void>
  /** Fastify's onClose: the shutdown hooks, then the summary. */
  onClose (): Promise<void>
}

/**
 * The one place that says what runs next: begin → delay window → drain → close → hooks → summary.
 * Each step runs once, whichever way in (signal, app.drain(), app.close()); only a signal waits out the delay.
 */
export function createSequence (fastify: FastifyInstance, options: ResolvedOptions, gate: Gate, inflight: Inflight, hooks: Hooks): Sequence {
  let cause: ShutdownCause | null = null
  let crashed = false
  let closeFailed = false
  let closeCalled = false
  let startedAt = 0
  let deadline = 0
  let drainBy = 0
  let drained: Promise<DrainResult> | null = null
  let closeStartedAt = 0
  let delayMs = 0
  const skipDelay = new AbortController()
  let forceClose: NodeJS.Timeout | undefined
  let finish!: (summary: ShutdownSummary) => void
  const finished = new Promise<ShutdownSummary>(resolve => { finish = resolve })

  function begin (why: ShutdownCause, error?: unknown): void {
    if (cause !== null) return
    cause = why
    crashed = error !== undefined
    startedAt = performance.now()
    deadline = startedAt + options.timeout - exitMargin(options.timeout)
    hooks.freeze(why)
    reportStart(fastify.log, why, inflight.size, error)
  }

  /** Keep serving, readiness failing and every response asking for Connection: close, until the delay is over. */
  async function delayWindow (): Promise<void> {
    if (options.delay === 0 || drained !== null) return
    const startedAt = performance.now()
    gate.announce()
    await sleep(options.delay, undefined, { signal: skipDelay.signal }).catch(() => {})
    delayMs = performance.now() - startedAt
  }

  function drainOnce (): Promise<DrainResult> {
    skipDelay.abort()
    if (drained === null) {
      drainBy = deadline - hooks.reserve(deadline - performance.now())
      drained = drain(gate, inflight, drainBy, options.retryAfter)
    }
    return drained
  }

  return {
    get isShuttingDown () {
      return cause !== null
    },

    async shutdown (why, error) {
      begin(why, error)
      await delayWindow()
      await drainOnce()
      if (!closeCalled) {
        try {
          await fastify.close()
        } catch (err) {
          closeFailed = true
          fastify.log.error({ err }, 'fastify.close() failed during the graceful shutdown')
        }
      }
      const summary = await finished
      return closeFailed ? 1 : summary.exitCode
    },

    drain () {
      begin('drain')
      return drainOnce()
    },

    async preClose () {
      closeCalled = true
      begin('close')
      await drainOnce()
      closeStartedAt = performance.now()
      forceClose = setTimeout(closeAllConnections, drainBy - closeStartedAt, fastify.server)
    },

    async onClose () {
      clearTimeout(forceClose)
      begin('close')
      const result = await drainOnce()
      const hooksStartedAt = performance.now()
      closeStartedAt ||= hooksStartedAt
      const outcomes = await hooks.run(cause as ShutdownCause, deadline, outcome => reportHook(fastify.log, outcome))
      const endedAt = performance.now()
      const summary = summarize({
        cause: cause as ShutdownCause,
        crashed,
        closeFailed,
        drain: result,
        refusedLater: gate.refused,
        hooks: outcomes,
        durationMs: {
          total: endedAt - startedAt,
          delay: delayMs,
          drain: result.durationMs,
          close: hooksStartedAt - closeStartedAt,
          hooks: endedAt - hooksStartedAt
        }
      })
      reportSummary(fastify.log, summary)
      finish(summary)
    }
  }
}
