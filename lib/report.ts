import type { FastifyBaseLogger } from 'fastify'
import type { DrainResult } from './drain.ts'
import type { HookOutcome, ShutdownCause } from './hooks.ts'

export interface ShutdownSummary {
  cause: ShutdownCause
  exitCode: 0 | 1
  /** Phase durations in ms: delay window, drain, closing the server, shutdown hooks, and all of it. */
  durationMs: { total: number, delay: number, drain: number, close: number, hooks: number }
  /** Requests that finished during the drain, were refused with 503, or were cut at the deadline. */
  requests: { drained: number, refused: number, cut: number }
  hooks: { ok: number, failed: number, timedOut: number }
}

const ms = (value: number): number => Math.round(value * 10) / 10

export function reportStart (log: FastifyBaseLogger, cause: ShutdownCause, inflight: number, error?: unknown): void {
  const graceful = { event: 'start', cause, inflight }
  if (error === undefined) {
    log.info({ graceful }, `graceful shutdown started by ${cause}: ${inflight} request(s) in flight`)
  } else {
    log.error({ graceful, err: error }, `graceful shutdown started by an uncaught error: ${inflight} request(s) in flight`)
  }
}

export function reportHook (log: FastifyBaseLogger, hook: HookOutcome): void {
  const graceful = { event: 'hook', hook: hook.name, outcome: hook.outcome, durationMs: ms(hook.durationMs) }
  const line = `shutdown hook "${hook.name}" ${hook.outcome} after ${Math.round(hook.durationMs)} ms`
  if (hook.outcome === 'ok') log.info({ graceful }, line)
  else log.error({ graceful, err: hook.error }, line)
}

interface Facts {
  cause: ShutdownCause
  crashed: boolean
  closeFailed: boolean
  drain: DrainResult
  refusedLater: number
  hooks: HookOutcome[]
  durationMs: ShutdownSummary['durationMs']
}

/** Exit code 0 only when nothing was cut, nothing failed and nothing crashed. */
export function summarize (facts: Facts): ShutdownSummary {
  const count = (outcome: HookOutcome['outcome']): number => facts.hooks.filter(hook => hook.outcome === outcome).length
  const hooks = { ok: count('ok'), failed: count('failed'), timedOut: count('timeout') }
  const clean = !facts.crashed && !facts.closeFailed && !facts.drain.timedOut && hooks.failed === 0 && hooks.timedOut === 0
  const durationMs = Object.fromEntries(Object.entries(facts.durationMs).map(([phase, value]) => [phase, ms(value)]))
  return {
    cause: facts.cause,
    exitCode: clean ? 0 : 1,
    durationMs: durationMs as ShutdownSummary['durationMs'],
    requests: { drained: facts.drain.completed, refused: facts.refusedLater, cut: facts.drain.cut },
    hooks
  }
}

export function reportSummary (log: FastifyBaseLogger, summary: ShutdownSummary): void {
  const { durationMs: d, requests: r, hooks: h } = summary
  const line = `graceful shutdown complete in ${Math.round(d.total)} ms (exit code ${summary.exitCode}): ` +
    `${r.drained} drained, ${r.refused} refused, ${r.cut} cut; hooks ${h.ok} ok, ${h.failed} failed, ${h.timedOut} timed out`
  if (summary.exitCode === 0) log.info({ graceful: { event: 'end', ...summary } }, line)
  else log.warn({ graceful: { event: 'end', ...summary } }, line)
}
