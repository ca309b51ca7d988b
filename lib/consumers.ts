import { FST_GRACEFUL_CONSUMER_AFTER_SHUTDOWN, FST_GRACEFUL_INVALID_CONSUMER, show } from './errors.ts'
import type { Hooks } from './hooks.ts'
import type { Progress } from './phase.ts'

/**
 * Something that takes work from outside HTTP (a queue worker, a Kafka or RabbitMQ consumer, a polling loop). Each
 * method is called with no argument, as a method of the object given: a BullMQ Worker can be given as it is (its
 * pause() and close() with no argument wait for its active jobs).
 */
export interface ShutdownConsumer {
  /**
   * At the first moment of a shutdown: take no new work. May return a promise that settles once the work already
   * taken is done; the drain waits for it, within the drain deadline.
   */
  pause (): unknown
  /** At the drain deadline, if pause() has not settled: the work still running hands itself back (to its queue). */
  cancel? (): unknown
  /** After the drain, with the shutdown hooks (reverse order of registration): release the consumer. */
  close? (): unknown
}

export interface ShutdownConsumerOptions {
  /** Time limit in ms for close(); defaults to the plugin's hookTimeout. */
  timeout?: number
}

interface Consumer {
  name: string
  pause: () => unknown
  cancel: (() => unknown) | undefined
  busy: boolean
  cancelled: boolean
  /** Its pause(), once it began: settled when the work it held is done. */
  paused: Promise<unknown>
}

/** A consumer's pause, as the shutdown follows it: `done` settles when its work taken is done (or pause() failed). */
export interface Pausing { name: string, done: Promise<unknown> }

export interface Cancelled { name: string, error?: unknown }

export interface Consumers {
  add (name: unknown, consumer: unknown, options: unknown): void
  /** The first moment of a shutdown: every consumer stops taking work; what each one's pause settles on. */
  pause (): Pausing[]
  /** The drain deadline came: the consumers still busy are told to hand their work back; each with cancel()'s error. */
  cancel (): Promise<Cancelled[]>
  /** Settles once no consumer holds work any more (each pause() settled). */
  idle (): Promise<void>
  /** How many consumers are registered (the watchdog starts at once when any is: their pause() is user code). */
  readonly size: number
}

/** The consumer's name, once the name and the consumer are checked. */
function check (name: unknown, consumer: unknown): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new FST_GRACEFUL_INVALID_CONSUMER('name', 'a non-empty string', show(name))
  }
  if (typeof consumer !== 'object' || consumer === null || Array.isArray(consumer)) {
    throw new FST_GRACEFUL_INVALID_CONSUMER(name, 'an object { pause, cancel?, close? }', show(consumer))
  }
  const { pause, cancel, close } = consumer as Record<string, unknown>
  if (typeof pause !== 'function') throw new FST_GRACEFUL_INVALID_CONSUMER(`${name}: pause`, 'a function', show(pause))
  for (const [key, fn] of [['cancel', cancel], ['close', close]] as const) {
    if (fn !== undefined && typeof fn !== 'function') {
      throw new FST_GRACEFUL_INVALID_CONSUMER(`${name}: ${key}`, 'a function or undefined', show(fn))
    }
  }
  return name
}

/**
 * Consumers stop at the signal, not when a hook of theirs happens to run: what they took is waited for like any work
 * in flight, handed back at the drain deadline, and their close() is a shutdown hook, before other plugins' clients.
 */
export function createConsumers (hooks: Pick<Hooks, 'add'>, progress: () => Progress): Consumers {
  const consumers: Consumer[] = []

  return {
    add (given, consumer: ShutdownConsumer, options) {
      const name = check(given, consumer)
      const { cause } = progress()
      if (cause !== null) throw new FST_GRACEFUL_CONSUMER_AFTER_SHUTDOWN(name, cause)
      const { pause, cancel, close } = consumer
      // Checked and added as a hook first: a bad timeout leaves no half-registered consumer behind.
      if (close !== undefined) hooks.add(name, () => close.call(consumer), options)
      else if (options !== undefined) {
        throw new FST_GRACEFUL_INVALID_CONSUMER(name, 'given close() for its options', show(options))
      }
      consumers.push({
        name,
        pause: pause.bind(consumer),
        cancel: cancel?.bind(consumer),
        busy: false,
        cancelled: false,
        paused: Promise.resolve()
      })
    },
    pause () {
      // Once per instance: the sequence begins one shutdown.
      return consumers.map(consumer => {
        consumer.busy = true
        const done = Promise.resolve()
          .then(() => consumer.pause())
          .finally(() => { consumer.busy = false })
        consumer.paused = done
        return { name: consumer.name, done }
      })
    },
    get size () {
      return consumers.length
    },
    cancel () {
      return Promise.all(consumers.filter(consumer => consumer.busy && !consumer.cancelled).map(consumer => {
        consumer.cancelled = true
        // The hand-back is the jobs' own: the shutdown does not wait for it here; close() (a hook) waits for them.
        return Promise.resolve()
          .then(() => consumer.cancel?.())
          .then((): Cancelled => ({ name: consumer.name }),
            (error: unknown): Cancelled => ({ name: consumer.name, error }))
      }))
    },
    async idle () {
      await Promise.allSettled(consumers.map(consumer => consumer.paused))
    }
  }
}
