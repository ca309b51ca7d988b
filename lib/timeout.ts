import { realClock, type Clock } from './clock.ts'

/** A race against the clock: what the work gave, or that its time ran out first. */
export type Timed<T> = { done: true, value: T } | { done: false }

/**
 * Races `work` against `ms` on `clock` (0 or less: the next turn). A rejection of `work` passes through; the wait
 * never outlives the race, so nothing holds the process after it.
 */
export async function withTimeout<T> (work: PromiseLike<T>, ms: number, clock: Clock = realClock): Promise<Timed<T>> {
  const raceOver = new AbortController()
  const expired = clock.sleep(ms, raceOver.signal).then((): Timed<T> => ({ done: false }))
  const finished = Promise.resolve(work).then((value): Timed<T> => ({ done: true, value }))
  try {
    return await Promise.race([finished, expired])
  } finally {
    raceOver.abort()
  }
}
