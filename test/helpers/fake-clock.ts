import { setImmediate as nextTurn } from 'node:timers/promises'
import type { Clock } from '../../lib/clock.ts'

export interface FakeClock extends Clock {
  /** Moves the time on by `ms`, waking each sleeper at its own moment, in order, each run before the next wakes. */
  advance (ms: number): Promise<void>
}

/** A clock that moves only when told: a rule's timing tested in microseconds of real time, the same on every run. */
export function fakeClock (): FakeClock {
  let time = 0
  const sleepers: Array<{ at: number, wake: () => void }> = []
  // What a woken sleeper does next runs in promise reactions: one turn of the real loop lets it all run.
  const settle = (): Promise<void> => nextTurn()
  return {
    now: () => time,
    sleep (ms, signal) {
      if (signal?.aborted === true) return Promise.resolve()
      return new Promise(resolve => {
        const sleeper = { at: time + Math.max(0, ms), wake: () => resolve() }
        sleepers.push(sleeper)
        signal?.addEventListener('abort', () => {
          sleepers.splice(sleepers.indexOf(sleeper), 1)
          resolve()
        }, { once: true })
      })
    },
    afterPoll: () => Promise.resolve(),
    async advance (ms) {
      const until = time + ms
      for (;;) {
        await settle()
        sleepers.sort((a, b) => a.at - b.at)
        const next = sleepers[0]
        if (next === undefined || next.at > until) break
        sleepers.shift()
        time = next.at
        next.wake()
      }
      time = until
      await settle()
    }
  }
}
