import createError from '@fastify/error'
import { inspect } from 'node:util'

/** Renders a user's value for an error message: short, unambiguous, never throws. */
export function show (value: unknown): string {
  return inspect(value, { depth: 1, breakLength: Infinity, maxStringLength: 60 })
}

/** Fastify's own error for inject() once close() has begun (same code and message); inject() keeps that contract. */
export const FST_ERR_REOPENED_CLOSE_SERVER = createError(
  'FST_ERR_REOPENED_CLOSE_SERVER',
  'Fastify has already been closed and cannot be reopened'
)

export const FST_GRACEFUL_INVALID_OPTION = createError<'FST_GRACEFUL_INVALID_OPTION', [string, string, string]>(
  'FST_GRACEFUL_INVALID_OPTION',
  'fastify-graceful: option "%s" must be %s, got %s',
  500,
  TypeError
)

export const FST_GRACEFUL_UNKNOWN_OPTION = createError<'FST_GRACEFUL_UNKNOWN_OPTION', [string, string, string]>(
  'FST_GRACEFUL_UNKNOWN_OPTION',
  'fastify-graceful: unknown option "%s" (got %s); known options are: %s',
  500,
  TypeError
)

export const FST_GRACEFUL_DELAY_TOO_LONG = createError<
  'FST_GRACEFUL_DELAY_TOO_LONG',
  [string, number, string, number, number, string, string]
>(
  'FST_GRACEFUL_DELAY_TOO_LONG',
  'fastify-graceful: %s (%d ms%s) leaves no room inside timeout (%d ms) for the drain and the hooks: ' +
    'keep at least %d ms after the %s (hookTimeout, or half of timeout if less), by raising timeout or lowering %s',
  500,
  RangeError
)

export const FST_GRACEFUL_INVALID_HOOK = createError<'FST_GRACEFUL_INVALID_HOOK', [string, string, string]>(
  'FST_GRACEFUL_INVALID_HOOK',
  'fastify-graceful: addShutdownHook "%s" must be %s, got %s',
  500,
  TypeError
)

export const FST_GRACEFUL_HOOK_AFTER_SHUTDOWN = createError<'FST_GRACEFUL_HOOK_AFTER_SHUTDOWN', [string, string]>(
  'FST_GRACEFUL_HOOK_AFTER_SHUTDOWN',
  'fastify-graceful: cannot add shutdown hook "%s": shutdown already began (cause: %s)'
)

export const FST_GRACEFUL_HOOK_TIMEOUT = createError<'FST_GRACEFUL_HOOK_TIMEOUT', [string, number]>(
  'FST_GRACEFUL_HOOK_TIMEOUT',
  'fastify-graceful: shutdown hook "%s" did not finish within %d ms'
)

export const FST_GRACEFUL_INVALID_WORK = createError<'FST_GRACEFUL_INVALID_WORK', [string, string]>(
  'FST_GRACEFUL_INVALID_WORK',
  'fastify-graceful: %s.waitUntil() must be given a promise, got %s',
  500,
  TypeError
)

export const FST_GRACEFUL_INVALID_CONSUMER = createError<'FST_GRACEFUL_INVALID_CONSUMER', [string, string, string]>(
  'FST_GRACEFUL_INVALID_CONSUMER',
  'fastify-graceful: addConsumer "%s" must be %s, got %s',
  500,
  TypeError
)

export const FST_GRACEFUL_CONSUMER_AFTER_SHUTDOWN = createError<
  'FST_GRACEFUL_CONSUMER_AFTER_SHUTDOWN', [string, string]
>(
  'FST_GRACEFUL_CONSUMER_AFTER_SHUTDOWN',
  'fastify-graceful: cannot add consumer "%s": shutdown already began (cause: %s)'
)
