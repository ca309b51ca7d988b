import Fastify, { type FastifyInstance } from 'fastify'
import { Writable } from 'node:stream'
import graceful, { type FastifyGracefulOptions } from '../../lib/index.ts'

/** An app with the plugin (no process listeners) whose log lines the test can read. */
export async function build (options: FastifyGracefulOptions = {}, fastifyOptions: Record<string, unknown> = {}): Promise<{ app: FastifyInstance, logs: Array<Record<string, any>> }> {
  const logs: Array<Record<string, any>> = []
  const stream = new Writable({
    write (chunk, _encoding, callback) {
      logs.push(JSON.parse(String(chunk)))
      callback()
    }
  })
  const app = Fastify({ logger: { level: 'info', stream }, ...fastifyOptions })
  await app.register(graceful, { signals: false, ...options })
  return { app, logs }
}

export const summary = (logs: Array<Record<string, any>>): Record<string, any> | undefined =>
  logs.find(line => line.graceful?.event === 'end')?.graceful

/** A moment a test waits for instead of sleeping (a request reached its handler): `arrived()` marks it. */
export function arrival (): { arrived: () => void, reached: Promise<void> } {
  let arrived!: () => void
  const reached = new Promise<void>(resolve => { arrived = resolve })
  return { arrived, reached }
}

/** Resolves once a line that matches has been logged (checked after each turn of the event loop). */
export async function logged (logs: Array<Record<string, any>>, match: (line: Record<string, any>) => boolean): Promise<void> {
  while (!logs.some(match)) await new Promise(resolve => setImmediate(resolve))
}
