import type { FastifyInstance } from 'fastify'

/** The last resort once the close phase has used its time: every remaining connection goes. */
export function closeAllConnections (server: FastifyInstance['server']): void {
  if ('closeAllConnections' in server) server.closeAllConnections()
}
