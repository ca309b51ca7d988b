import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { ShutdownSignal } from './options.ts'
import { foreignListeners } from './signals.ts'
import { isSignalExit } from './private.ts'

/** fastify-cli's default closeGraceDelay: it exits the process this long after the signal. */
export const CLI_GRACE_DELAY = 500

/** fastify-cli starts the process from its cli.js and empties process.argv; /proc still has the flags. */
function underFastifyCli (): boolean {
  return /fastify-cli[\\/]cli\.js$/.test(createRequire(import.meta.url).main?.filename ?? '')
}

/**
 * fastify-cli's grace delay: --close-grace-delay / -g on the command line, else FASTIFY_CLOSE_GRACE_DELAY, else
 * 500.
 */
export function cliGraceDelay (commandLine = readCommandLine(), env = process.env): number {
  const args = commandLine.slice(0, commandLine.includes('--') ? commandLine.indexOf('--') : undefined)
  for (let i = args.length - 1; i >= 0; i--) {
    const match = /^(?:--close-grace-delay|-g)(?:=?(\d+))?$/.exec(args[i]!)
    if (match !== null) return Number(match[1] ?? args[i + 1])
  }
  const fromEnv = env.FASTIFY_CLOSE_GRACE_DELAY
  return fromEnv !== undefined && /^\d+$/.test(fromEnv) ? Number(fromEnv) : CLI_GRACE_DELAY
}

/** The process's own command line before fastify-cli emptied process.argv; nothing where there is no /proc. */
export function readCommandLine (path = '/proc/self/cmdline'): string[] {
  try {
    return readFileSync(path, 'utf8').split('\0')
  } catch {
    return []
  }
}

let warned = false

/**
 * Another listener on our signals may end the process in the middle of the drain (fastify-cli's own
 * close-with-grace exits 500 ms after SIGTERM by default). Said once per process, with the fix.
 */
export function warnAboutNeighbours (
  signals: ShutdownSignal[], timeout: number, warn: (message: string) => void
): void {
  if (warned) return
  for (const signal of signals) {
    // signal-exit acts only when its own listeners are the last ones left: never while ours are installed.
    const others = foreignListeners(signal).filter(listener => !isSignalExit(listener))
    if (others.length === 0) continue
    let message: string
    if (underFastifyCli()) {
      const delay = cliGraceDelay()
      if (delay > timeout) continue
      const enough = timeout + 1000
      message = `fastify-graceful: fastify-cli will exit the process ${delay} ms after ${signal} ` +
        `(its closeGraceDelay), before the graceful shutdown's timeout of ${timeout} ms. ` +
        `Start it with \`fastify start --close-grace-delay ${enough}\` or FASTIFY_CLOSE_GRACE_DELAY=${enough}.`
    } else {
      const names = others.map(listener => listener.name || 'anonymous').join(', ')
      message = `fastify-graceful: another ${signal} listener (${names}) may end the process ` +
        `before the graceful shutdown (timeout ${timeout} ms) finishes. ` +
        'Remove it, or register fastify-graceful with signals: false and call app.close() from it.'
    }
    warned = true
    warn(message)
    return
  }
}
