import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify'

/**
 * Registered inside an encapsulated plugin, the gate covers that plugin's routes only, and Fastify gives a plugin no
 * way to reach routes declared elsewhere. A shutdown is server-wide, so the first request of a shutdown that was
 * answered without passing the gate says so, with the fix.
 */
export function watchOutsideRoutes (fastify: FastifyInstance, shuttingDown: () => boolean, warn: (message: string) => void): onRequestHookHandler {
  const gated = new WeakSet<object>()
  let warned = false
  fastify.server.on('request', (req: { method?: string, url?: string }, res: { once (event: 'finish', listener: () => void): void, statusCode: number }) => {
    if (warned || !shuttingDown()) return
    res.once('finish', () => {
      if (warned || gated.has(req)) return
      warned = true
      warn(`${req.method} ${req.url} was answered ${res.statusCode} during the shutdown without passing the shutdown gate: ` +
        'fastify-graceful is registered inside an encapsulated plugin and covers only its routes. ' +
        'Register it on the root instance, or wrap the plugin that registers it with fastify-plugin.')
    })
  })
  return function markGated (request: FastifyRequest, _reply, done) {
    if (shuttingDown()) gated.add(request.raw)
    done()
  }
}
