import type { FastifyInstance } from 'fastify'
import type { Http2Session } from 'node:http2'
import type { Socket } from 'node:net'
import { Server as TlsServer } from 'node:tls'

export interface Connections {
  /** The open HTTP/1 connections (on any kind of server), where the requests in flight are found. */
  readonly http1Sockets: ReadonlySet<Socket>
  /** Drain start: every HTTP/2 session gets GOAWAY; its streams in flight finish, new ones go elsewhere. */
  goAway (): void
  /** After the drain: HTTP/1 sockets the server would not reap itself (HTTP/1 on an HTTP/2 server) end once their last bytes are out. */
  closeIdle (): void
  /** The last resort once the close phase has used its time: every remaining connection goes. */
  closeAll (): void
}

type Server = FastifyInstance['server']

/**
 * Every connection is watched here, one entry per connection and nothing per request: the HTTP/1 sockets
 * (where a shutdown finds the requests in flight), and on HTTP/2 servers the sessions, which those servers
 * do not close by themselves, and with allowHTTP1 the HTTP/1 sockets, which they do not reap on close() either.
 */
export function watchConnections (server: Server, http2: boolean): Connections {
  const sessions = new Set<Http2Session>()
  const http1Sockets = new Set<Socket>()
  const watch = (socket: Socket): void => {
    http1Sockets.add(socket)
    socket.once('close', () => http1Sockets.delete(socket))
  }
  if (http2) {
    server.on('session', (session: Http2Session) => {
      sessions.add(session)
      session.once('close', () => sessions.delete(session))
    })
    server.on('secureConnection', (socket: Socket & { alpnProtocol?: string | false }) => {
      if (socket.alpnProtocol !== 'h2') watch(socket)
    })
  } else {
    // HTTPS serves each request on the TLS socket, not on the TCP connection under it.
    server.on(server instanceof TlsServer ? 'secureConnection' : 'connection', watch)
  }

  return {
    http1Sockets,
    goAway () {
      for (const session of sessions) session.close()
    },
    closeIdle () {
      // Plain HTTP/1 servers close their idle sockets themselves on close().
      if (http2) for (const socket of http1Sockets) socket.end()
    },
    closeAll () {
      if ('closeAllConnections' in server) server.closeAllConnections()
      for (const session of sessions) session.destroy()
      for (const socket of http1Sockets) socket.destroy()
    }
  }
}
