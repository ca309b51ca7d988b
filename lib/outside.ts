import type { FastifyInstance, FastifyRequest } from 'fastify'
import { isRootInstance } from './private.ts'

export interface OutsideRoutes {
  /** At the first moment of a shutdown (once): follow every request the server answers from then on. */
  watch (): void
  /** This request passed the shutdown gate (called during a shutdown only). */
  gated (request: FastifyRequest): void
}

/**
 * Registered inside an encapsulated plugin, the gate covers that plugin's routes only, and Fastify gives a plugin no
 * way to reach routes declared elsewhere. A shutdown is server-wide, so the first request of a shutdown that was
 * answered without passing the gate says so, with the fix.
 */
export function watchOutsideRoutes (fastify: FastifyInstance, warn: (message: string) => void): OutsideRoutes {
  const gated = new WeakSet<object>()
  let warned = false
  // On the root instance (plugin contexts inherit from it) every route passes the gate: what does not was answered
  // outside Fastify (a serverFactory handler's own URLs), by design, and the encapsulation diagnosis would be wrong.
  const onRoot = isRootInstance(fastify)
  return {
    watch () {
      if (onRoot) return
      // Attached only now: a second 'request' listener costs every request (bench/README.md); only a shutdown needs it.
      fastify.server.on('request', (
        req: { method?: string, url?: string },
        res: { once (event: 'finish', listener: () => void): void, statusCode: number }
      ) => {
        if (warned) return
        res.once('finish', () => {
          // A 503 turned the request away anyway (Fastify's own return503OnClosing once close() has begun, say).
          if (warned || gated.has(req) || res.statusCode === 503) return
          warned = true
          warn(`${req.method} ${req.url} was answered ${res.statusCode} during the shutdown ` +
            'without passing the shutdown gate: ' +
            'fastify-graceful is registered inside an encapsulated plugin and covers only its routes. ' +
            'Register it on the root instance, or wrap the plugin that registers it with fastify-plugin.')
        })
      })
    },
    gated (request) {
      gated.add(request.raw)
    }
  }
}
