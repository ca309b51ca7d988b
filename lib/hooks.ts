import {
  FST_GRACEFUL_HOOK_AFTER_SHUTDOWN, FST_GRACEFUL_HOOK_TIMEOUT, FST_GRACEFUL_INVALID_HOOK, show
} from './errors.ts'
import { checkDuration } from './options.ts'
import { realClock, type Clock } from './clock.ts'
import { NO_SHUTDOWN, type Progress } from './phase.ts'
import { withTimeout } from './timeout.ts'

export type ShutdownCause = string

export interface ShutdownHookContext {
  /** Aborts when the hook's time limit is reached: pass it on to whatever the hook waits for. */
  signal: AbortSignal
  /** What started the shutdown: a signal name, 'error', 'close' or 'drain'. */
  cause: ShutdownCause
}

export type ShutdownHook = (context: ShutdownHookContext) => unknown

/**
 * 'preDrain': at the signal, alongside the delay window, before admission closes; 'postDrain' (default): after the
 * drain.
 */
export type ShutdownHookPhase = 'preDrain' | 'postDrain'

export interface ShutdownHookOptions {
  /** Time limit in ms for this hook; defaults to the plugin's hookTimeout. */
  timeout?: number
  /** When the hook runs: 'postDrain' (default), after the last request; 'preDrain', at the start of the shutdown. */
  phase?: ShutdownHookPhase
}

export interface HookOutcome {
  name: string
  phase: ShutdownHookPhase
  outcome: 'ok' | 'failed' | 'timeout'
  durationMs: number
  error?: unknown
  /** Not run at all: the overall deadline had been reached by an earlier hook (logged once for all, not traced). */
  skipped?: true
}

/** Runs one hook (`ranBefore`: the hooks of its phase that ran before it, in order), and reports it. */
export type Observer = (
  name: string, limitMs: number, run: () => Promise<HookOutcome>, ranBefore: readonly string[]
) => Promise<HookOutcome>

interface Hook {
  name: string
  fn: ShutdownHook
  timeout: number
  phase: ShutdownHookPhase
}

const PHASES: readonly unknown[] = ['preDrain', 'postDrain']

export interface Hooks {
  add (nameOrFn: unknown, fnOrOptions?: unknown, maybeOptions?: unknown): void
  /** Whether any hook runs in `phase`. */
  has (phase: ShutdownHookPhase): boolean
  /** The time the post-drain hooks may need, out of `budget` ms: their limits added up, at most half the budget. */
  reserve (budget: number): number
  /** Runs every hook of `phase`, last registered first; `observe` wraps each run (logs, traces). */
  run (cause: ShutdownCause, deadline: number, observe: Observer, phase?: ShutdownHookPhase): Promise<HookOutcome[]>
}

function parse (
  hookTimeout: number, count: number, nameOrFn: unknown, fnOrOptions: unknown, maybeOptions: unknown
): Hook {
  const named = typeof nameOrFn === 'string'
  const fn = named ? fnOrOptions : nameOrFn
  const options = (named ? maybeOptions : fnOrOptions) ?? {}
  if (named && nameOrFn.length === 0) throw new FST_GRACEFUL_INVALID_HOOK('name', 'a non-empty string', show(nameOrFn))
  if (typeof fn !== 'function') throw new FST_GRACEFUL_INVALID_HOOK(named ? nameOrFn : 'fn', 'a function', show(fn))
  const name = named ? nameOrFn : (fn.name || `hook #${count + 1}`)
  // A class would only fail at shutdown, when it is called without `new`.
  if (/^class\b/.test(Function.prototype.toString.call(fn))) {
    throw new FST_GRACEFUL_INVALID_HOOK(name, 'a function, not a class', show(fn))
  }
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new FST_GRACEFUL_INVALID_HOOK(name, 'given an options object', show(options))
  }
  const { timeout, phase = 'postDrain', ...unknown } = options as Record<string, unknown>
  const extra = Object.keys(unknown)
  if (extra.length > 0) {
    throw new FST_GRACEFUL_INVALID_HOOK(name, 'given only the options "timeout" and "phase"', show(unknown))
  }
  if (!PHASES.includes(phase)) {
    throw new FST_GRACEFUL_INVALID_HOOK(`${name}: phase`, '"preDrain" or "postDrain"', show(phase))
  }
  return {
    name,
    fn: fn as ShutdownHook,
    timeout: timeout === undefined ? hookTimeout : checkDuration(`${name}: timeout`, timeout),
    phase: phase as ShutdownHookPhase
  }
}

/** Runs one hook against its limit; whatever it does later is caught, so a late rejection cannot crash the process. */
async function runOne (hook: Hook, cause: ShutdownCause, limit: number, clock: Clock): Promise<HookOutcome> {
  const startedAt = clock.now()
  const done = (outcome: HookOutcome['outcome'], error?: unknown): HookOutcome =>
    ({
      name: hook.name,
      phase: hook.phase,
      outcome,
      durationMs: clock.now() - startedAt,
      ...(error === undefined ? {} : { error })
    })

  const controller = new AbortController()
  const work = Promise.resolve()
    .then(() => hook.fn({ signal: controller.signal, cause }))
    .then(() => 'ok' as const, (error: unknown) => ({ error }))
  const result = await withTimeout(work, limit, clock)
  if (!result.done) {
    controller.abort(new FST_GRACEFUL_HOOK_TIMEOUT(hook.name, Math.round(limit)))
    return done('timeout', controller.signal.reason)
  }
  if (result.value === 'ok') return done('ok')
  return done('failed', result.value.error)
}

export function createHooks (
  hookTimeout: number, clock: Clock = realClock, progress: () => Progress = () => NO_SHUTDOWN
): Hooks {
  const hooks: Hook[] = []

  return {
    add (nameOrFn, fnOrOptions, maybeOptions) {
      const hook = parse(hookTimeout, hooks.length, nameOrFn, fnOrOptions, maybeOptions)
      // Once a shutdown has begun, adding a hook is an error rather than a hook that never runs.
      const { cause } = progress()
      if (cause !== null) throw new FST_GRACEFUL_HOOK_AFTER_SHUTDOWN(hook.name, cause)
      hooks.push(hook)
    },
    has (phase) {
      return hooks.some(hook => hook.phase === phase)
    },
    reserve (budget) {
      const needed = hooks.reduce((sum, hook) => sum + (hook.phase === 'postDrain' ? hook.timeout : 0), 0)
      return Math.min(needed, budget / 2)
    },
    async run (cause, deadline, observe, phase = 'postDrain') {
      const outcomes: HookOutcome[] = []
      // Once a hook ran out of time at the overall deadline, none is left for the next ones, whatever a timer
      // that fired a fraction of a millisecond early makes the clock say.
      let deadlineReached = false
      const ranBefore: string[] = []
      for (const hook of hooks.filter(hook => hook.phase === phase).reverse()) {
        // A Node timer cannot be shorter than 1 ms (and fires on a ms clock): less than that left is no time at all.
        // Nothing per hook left behind the deadline (no timer, no error, no log line): a thousand of them cost no time.
        if (deadlineReached || deadline - clock.now() < 1) {
          deadlineReached = true
          outcomes.push({ name: hook.name, phase: hook.phase, outcome: 'timeout', durationMs: 0, skipped: true })
          continue
        }
        const limit: number = Math.min(hook.timeout, deadline - clock.now())
        const outcome = await observe(hook.name, limit, () => runOne(hook, cause, limit, clock), [...ranBefore])
        ranBefore.push(hook.name)
        deadlineReached ||= outcome.outcome === 'timeout' && limit < hook.timeout
        outcomes.push(outcome)
      }
      return outcomes
    }
  }
}
