import { realClock, type Clock } from './clock.ts'

/** The shortest quiet that counts as "the balancers stopped sending", whatever the pace of the traffic. */
export const QUIET_MIN_MS = 500
/**
 * The same where no checker was told (kube-proxy): the endpoint removal is seen only as the traffic stopping, so a
 * pause in it must be longer to count.
 */
export const QUIET_MIN_UNSEEN_MS = 1000
/** The quiet must last this many of the traffic's mean gaps: in light traffic a short pause proves nothing. */
export const QUIET_GAPS = 3
/**
 * The traffic's pace is counted once per window of this length while requests come (lib/inflight.ts's timer): no
 * clock read per request. It also tells the drain whether requests were arriving just before it (LINGER_MS).
 */
export const SAMPLE_WINDOW_MS = 250
/** How far back the pace before the signal is read. */
const PACE_WINDOW_MS = 60_000
/** A checker that missed twice its interval and this much more has stopped checking (a balancer gone, say). */
const CHECKER_SLACK_MS = 100
/** How often the rule is looked at again while it does not hold. */
const LOOK_EVERY_MS = 25
/** The counts of the traffic remembered: a minute of windows under steady load. */
const COUNTS_KEPT = 256
/** The checkers remembered, the latest ones: a balancer fleet, not every address that ever asked once. */
const CHECKERS_KEPT = 64

/** Why the serving after the signal ended, for the log. */
export type HandOverEnd = 'quiet' | 'nobody watching' | 'bound' | 'cut short'

interface Checker {
  last: number
  interval: number
  visits: number
  /** Answered 503 since the shutdown began: this checker's balancer has been told. */
  told: boolean
  kubelet: boolean
}

export interface Traffic {
  /** A health route answered; for readiness, who asked, and whether with 503 because a shutdown is under way. */
  probed (route: 'readiness' | 'liveness', ip?: string, userAgent?: string, shuttingDown?: boolean): void
  /** Once per window while requests come (lib/inflight.ts): how many passed the gate so far, probes included. */
  windowEnded (admitted: number): void
  /** A request other than a health probe arrived after the signal. */
  arrived (): void
  /** The signal: who is watching the readiness route, and the traffic's pace so far, are read now (once). */
  begin (admitted: number): void
  /**
   * Somebody stops sending on their own once told: a health checker polled readiness before the signal, or
   * kube-proxy.
   */
  readonly watched: boolean
  /**
   * Resolves once the port may close: after `min` ms, when nobody is watching (a passive balancer needs the refusal and
   * retries it), or when every checker has been answered 503 and no request has come for the quiet time; at `max`
   * anyway.
   */
  handOver (min: number, max: number, cutShort: AbortSignal): Promise<HandOverEnd>
}

/** Kubelet's probes decide nothing for a terminating pod: the endpoint removal does, whatever readiness says. */
function isKubelet (userAgent: string | undefined): boolean {
  return userAgent?.startsWith('kube-probe/') === true
}

/** How many requests other than health probes had come, at a moment (the clock's). */
interface Count { at: number, requests: number }

/** The mean gap between requests over the counts given (oldest first); 0 when fewer than two tell. */
function meanGap (counts: readonly Count[]): number {
  const first = counts[0]
  const last = counts.at(-1)
  if (first === undefined || last === undefined || last.requests === first.requests) return 0
  return (last.at - first.at) / (last.requests - first.requests)
}

/**
 * Reads from the traffic itself whether the balancers have stopped sending: the health checkers that polled readiness
 * before the signal (how often each comes, whether it has been answered 503 since), the pace of the requests before the
 * signal and the requests that keep arriving after it. Health probes are not traffic.
 */
export function createTraffic (kubernetes: boolean, clock: Clock = realClock): Traffic {
  const checkers = new Map<string, Checker>()
  let probes = 0
  // The traffic before the signal, counted at the end of each window in which it grew: its pace, and when it last came.
  const counts: Count[] = []
  let startedAt = -1
  const watchers: Checker[] = []
  let watched = kubernetes
  let lastArrival = -Infinity
  let gapBefore = 0
  const after = { count: 0, first: 0, last: 0 }

  function quietFor (max: number): number {
    const gapAfter = after.count < 2 ? 0 : (after.last - after.first) / (after.count - 1)
    const least = watchers.length > 0 ? QUIET_MIN_MS : QUIET_MIN_UNSEEN_MS
    return Math.min(max, Math.max(least, QUIET_GAPS * Math.max(gapBefore, gapAfter)))
  }

  function count (admitted: number): void {
    const requests = admitted - probes
    if (requests === (counts.at(-1)?.requests ?? 0)) return
    if (counts.push({ at: clock.now(), requests }) > COUNTS_KEPT) counts.shift()
  }

  /** Every checker that was polling has been answered 503, or has missed its turn twice over. */
  function told (now: number): boolean {
    return watchers.every(checker => checker.told || now - checker.last > 2 * checker.interval + CHECKER_SLACK_MS)
  }

  return {
    probed (route, ip, userAgent, shuttingDown = false) {
      probes++
      if (route === 'liveness') return
      const key = `${ip} ${userAgent ?? ''}`
      const now = clock.now()
      const checker = checkers.get(key)
      if (checker === undefined) {
        if (checkers.size >= CHECKERS_KEPT) checkers.delete(checkers.keys().next().value!)
        checkers.set(key, { last: now, interval: 0, visits: 1, told: shuttingDown, kubelet: isKubelet(userAgent) })
        return
      }
      checker.interval = now - checker.last
      checker.last = now
      checker.visits++
      checker.told ||= shuttingDown
      // The latest come last: the oldest is the one forgotten first.
      checkers.delete(key)
      checkers.set(key, checker)
    },
    windowEnded: count,
    arrived () {
      const now = clock.now()
      lastArrival = now
      if (after.count++ === 0) after.first = now
      after.last = now
    },
    begin (admitted) {
      if (startedAt !== -1) return
      const now = startedAt = clock.now()
      for (const checker of checkers.values()) {
        // Twice seen makes a checker: one probe may be a person with curl.
        const polling = checker.visits >= 2 && now - checker.last <= 2 * checker.interval + CHECKER_SLACK_MS
        if (polling && !checker.kubelet) watchers.push(checker)
      }
      watched ||= watchers.length > 0
      // Requests since the last window ended came just now, as far as anybody can tell; the others, by their window's
      // end.
      count(admitted)
      lastArrival = counts.at(-1)?.at ?? -Infinity
      gapBefore = meanGap(counts.filter(count => count.at >= now - PACE_WINDOW_MS))
    },
    get watched () {
      return watched
    },
    async handOver (min, max, cutShort) {
      for (;;) {
        const now = clock.now()
        const elapsed = now - startedAt
        if (cutShort.aborted) return 'cut short'
        if (elapsed >= max) return 'bound'
        if (elapsed >= min) {
          if (!watched) return 'nobody watching'
          if (told(now) && now - lastArrival >= quietFor(max)) return 'quiet'
        }
        const next = elapsed < min ? min - elapsed : LOOK_EVERY_MS
        await clock.sleep(Math.min(next, max - elapsed), cutShort)
      }
    }
  }
}
