import type { FastifyInstance } from 'fastify'

/** 1001 Going Away: the endpoint is going down; a client reconnects elsewhere. */
export const GOING_AWAY = 1001

interface WebSocketLike { close (code: number, reason: string): void }

/**
 * Open WebSockets (from @fastify/websocket, registered before or after this plugin) get a close frame with
 * 1001. Their upgrade requests passed the gate, so the drain waits for their closing handshakes like for any
 * request in flight, and cuts the connections still open at its deadline.
 */
export function closeWebSockets (fastify: FastifyInstance): void {
  const server = (fastify as { websocketServer?: { clients?: Set<WebSocketLike> } }).websocketServer
  for (const client of server?.clients ?? []) client.close(GOING_AWAY, 'Server is shutting down')
}
