import type { FastifyInstance } from 'fastify'
import type { Http2Session } from 'node:http2'
import type { Socket } from 'node:net'

export interface Connections {
  /** Drain start: every HTTP/2 session gets GOAWAY; its streams in flight finish, new ones go elsewhere. */
  goAway (): void
  /** After the drain: HTTP/1 sockets the server would not reap itself (HTTP/1 on an HTTP/2 server) end once their last bytes are out. */
  closeIdle (): void
  /** The last resort once the close phase has used its time: every remaining connection goes. */
  closeAll (): void
}

type Server = FastifyInstance['server']

/**
 * HTTP/1 servers reap their own idle sockets on close(); HTTP/2 servers know nothing of their sessions,
 * and with allowHTTP1 nothing of their HTTP/1 sockets either: those are watched here, one entry per connection.
 */
export function watchConnections (server: Server, http2: boolean): Connections {
  const sessions = new Set<Http2Session>()
  const http1Sockets = new Set<Socket>()
  if (http2) {
    server.on('session', (session: Http2Session) => {
      sessions.add(session)
      session.once('close', () => sessions.delete(session))
    })
    server.on('secureConnection', (socket: Socket & { alpnProtocol?: string | false }) => {
      if (socket.alpnProtocol === 'h2') return
      http1Sockets.add(socket)
      socket.once('close', () => http1Sockets.delete(socket))
    })
  }

  return {
    goAway () {
      for (const session of sessions) session.close()
    },
    closeIdle () {
      for (const socket of http1Sockets) socket.end()
    },
    closeAll () {
      if ('closeAllConnections' in server) server.closeAllConnections()
      for (const session of sessions) session.destroy()
      for (const socket of http1Sockets) socket.destroy()
    }
  }
}
