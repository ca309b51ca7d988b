/** A race against the clock: what the work gave, or that its time ran out first. */
export type Timed<T> = { done: true, value: T } | { done: false }

/**
 * Races `work` against `ms` (0 or less: the next turn of the timers). A rejection of `work` passes through; the timer
 * never outlives the race, so nothing holds the process after it.
 */
export function withTimeout<T> (work: PromiseLike<T>, ms: number): Promise<Timed<T>> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<Timed<T>>(resolve => {
    timer = setTimeout(resolve, Math.max(0, ms), { done: false })
  })
  const finished = Promise.resolve(work).then((value): Timed<T> => ({ done: true, value }))
  return Promise.race([finished, expired]).finally(() => clearTimeout(timer))
}
