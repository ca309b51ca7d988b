import type { FastifyInstance } from 'fastify'
import type { Http2Session } from 'node:http2'
import { Server as NetServer, type Socket } from 'node:net'
import { Server as TlsServer } from 'node:tls'
import {
  busyWith, fastifyInternal, nodeConnections, parsedByHttp, serverOf, socketOfSession, tcpUnder,
  type NodeConnections
} from './private.ts'

/** The open HTTP/1 connections (on any kind of server), where the requests in flight are found. */
export interface Http1Sockets extends Iterable<Socket> {
  has (socket: object): boolean
}

export interface Connections {
  readonly http1Sockets: Http1Sockets
  /** Fastify's onListen: its servers are bound, and the server is Fastify's to close (fastify.listen() was called). */
  listened (): void
  /**
   * Drain start: no new connection is accepted (the OS refuses them, and balancers retry elsewhere); the open ones
   * stay.
   */
  stopListening (): void
  /**
   * Drain start: every HTTP/2 session gets GOAWAY; its streams in flight finish, new ones go elsewhere; its socket goes
   * once Node has ended it.
   */
  goAway (): void
  /**
   * HTTP/1 connections between two requests go (not one whose next request is being read), and those that never sent
   * a byte (a browser's preconnect, TLS before its handshake, HTTP/2 before its preface).
   */
  closeIdle (): void
  /** Some connection is open (HTTP/1, HTTP/2, or a TLS handshake): a client may still send a request on it. */
  open (): boolean
  /** No request in flight on any connection, no HTTP/2 session: closing takes no waiting. */
  quiet (): boolean
  /** The last resort once the close phase has used its time: every remaining connection goes; what was left. */
  closeAll (): LeftOpen
  /** close() has begun: the process no longer needs holding up for it. */
  letProcessGo (): void
}

/** The connections the close phase found still open at the drain deadline, by kind (for the log). */
export interface LeftOpen {
  http1: number
  /** HTTP/2 connections (a session, or its socket once the session is over). */
  http2: number
  /** TLS connections still in their handshake. */
  handshaking: number
}

type Server = FastifyInstance['server']

/** Our side of the connection has ended (the FIN is out): nothing more will be sent or read on it. */
function destroyOnceEnded (this: Socket): void {
  this.destroy()
}

function destroyWhenEnded (socket: Socket): void {
  if (socket.writableFinished) socket.destroy()
  else socket.once('finish', destroyOnceEnded)
}

function closeSession (session: Http2Session): void {
  session.close()
}

/** The event on which a connection of `server` is ready for HTTP/2: over TLS, once its handshake is over. */
function lateConnection (server: object): 'secureConnection' | 'connection' {
  return server instanceof TlsServer ? 'secureConnection' : 'connection'
}

/**
 * Every connection is watched here, one entry per connection and nothing per request: the HTTP/1 sockets (where a
 * shutdown finds the requests in flight), TLS connections until their handshake ends, and on HTTP/2 servers the
 * sessions, which those servers do not close by themselves, and with allowHTTP1 the HTTP/1 sockets, which they do
 * not reap on close() either. Fastify listens on more than one server for 'localhost' (IPv4 and IPv6): all of them.
 */
export function watchConnections (fastify: FastifyInstance, http2: boolean): Connections {
  const servers: Server[] = []
  const sessions = new Set<Http2Session>()
  // HTTP/1 servers whose connections Node lists itself: nothing is kept per connection for them (about 500 B each).
  const listed = new Map<Server, NodeConnections>()
  // The other HTTP/1 connections: on HTTP/2 servers (allowHTTP1), and all of them where Node keeps no list.
  const followed = new Set<Socket>()
  const http1Sockets: Http1Sockets = {
    // An upgraded connection has left Node's list (and its parser): its request is tracked on its own instead.
    has: socket => (parsedByHttp(socket) && listed.has(serverOf(socket) as Server)) || followed.has(socket as Socket),
    * [Symbol.iterator] () {
      for (const list of listed.values()) for (const { socket } of list.all()) if (socket) yield socket
      yield * followed
    }
  }
  // The socket under each HTTP/2 session: a client that never sent its preface holds its session even after GOAWAY.
  const sessionSockets = new Set<Socket>()
  const handshaking = new Set<Socket>()
  // One listener per set, shared by its members (`this`): no closure and no once() wrapper per connection.
  const forgetters = new Map<Set<unknown>, () => void>()
  const follow = <T extends { on (event: 'close', listener: () => void): unknown }>(set: Set<T>, item: T): void => {
    let forget = forgetters.get(set)
    if (forget === undefined) forgetters.set(set, forget = function (this: T) { set.delete(this) })
    set.add(item)
    item.on('close', forget)
  }

  function watch (server: Server): void {
    servers.push(server)
    const tls = server instanceof TlsServer
    if (tls) {
      server.on('connection', (socket: Socket) => follow(handshaking, socket))
      server.on('secureConnection', (socket: Socket) => { handshaking.delete(tcpUnder(socket) as Socket) })
    }
    if (http2) {
      server.on('session', (session: Http2Session) => follow(sessions, session))
      if (tls) {
        server.on('secureConnection', (socket: Socket & { alpnProtocol?: string | false }) => {
          follow(socket.alpnProtocol === 'h2' ? sessionSockets : followed, socket)
        })
      } else {
        server.on('connection', (socket: Socket) => follow(sessionSockets, socket))
      }
    } else {
      // HTTPS serves each request on the TLS socket, not on the TCP connection under it.
      const event = tls ? 'secureConnection' : 'connection'
      const onConnection = (socket: Socket): void => {
        const list = nodeConnections(server)
        if (list === undefined) {
          follow(followed, socket)
          return
        }
        listed.set(server, list)
        server.removeListener(event, onConnection)
      }
      server.on(event, onConnection)
    }
  }

  watch(fastify.server)
  // As Fastify decides at close(): a server from serverFactory that the app listens on by itself is not ours to close.
  let ours = fastifyInternal<{ serverFactory?: unknown }>(fastify, 'fastify.options')?.serverFactory === undefined

  // The listener kept the process alive; after app.drain() it still has to be there for close().
  let holding: NodeJS.Timeout | undefined

  return {
    http1Sockets,
    listened () {
      ours = true
      // The extra servers exist once listen() has bound them all.
      for (const server of fastifyInternal<Server[]>(fastify, 'fastify.serverBindings') ?? []) watch(server)
    },
    stopListening () {
      for (const server of servers) {
        if (!server.listening || !ours) continue
        // net.Server's close(), not http.Server's: that one would also drop idle keep-alive connections at once,
        // racing the next request a client may be sending on them.
        NetServer.prototype.close.call(server)
        holding ??= setInterval(() => {}, 2 ** 31 - 1)
      }
    },
    letProcessGo () {
      clearInterval(holding)
    },
    goAway () {
      for (const session of sessions) session.close()
      // Its streams over, Node ends a closed session's socket and waits for the peer's FIN, which a proxy may never
      // send (HAProxy over TLS); session.destroy() no longer reaches that socket, and server.close() waits for it.
      for (const socket of sessionSockets) destroyWhenEnded(socket)
      // A connection accepted before the port closed whose TLS handshake ends only now (a balancer's health check,
      // opened every 250 ms, often is) starts its session late: it gets GOAWAY as it begins, and its socket goes the
      // same way, or it holds close() until the force-close at the drain deadline.
      if (!http2) return
      for (const server of servers) {
        server.on('session', closeSession)
        server.on(lateConnection(server), destroyWhenEnded)
      }
    },
    closeIdle () {
      for (const server of servers) {
        // Node's own check also spares a connection whose next request is half read.
        if ('closeIdleConnections' in server) server.closeIdleConnections()
      }
      // HTTP/1 on an HTTP/2 server (allowHTTP1), or where Node keeps no list: Node has no such check there.
      for (const socket of followed) if (!busyWith(socket)) socket.end()
      // Node holds a connection that never sent a byte until its headersTimeout (HTTP/1) or for ever (HTTP/2 before its
      // preface, even after GOAWAY); one after a TLS handshake with no request; one still in its TLS handshake.
      for (const socket of sessionSockets) if (socket.bytesRead === 0) socket.destroy()
      // A session that Node destroyed while a write to its socket was under way ends that socket only once the write
      // completes, which over TLS may never happen (Node 20 behind HAProxy: the close phase held until the drain
      // deadline); with its streams over, nothing is lost when its socket goes now.
      for (const session of sessions) if (session.destroyed) socketOfSession(session)?.destroy()
      for (const socket of http1Sockets) if (busyWith(socket) === undefined && socket.bytesRead === 0) socket.destroy()
      for (const socket of handshaking) socket.destroy()
    },
    open () {
      if (sessions.size > 0 || sessionSockets.size > 0 || handshaking.size > 0) return true
      return http1Sockets[Symbol.iterator]().next().done !== true
    },
    quiet () {
      if (sessions.size > 0) return false
      for (const socket of http1Sockets) if (busyWith(socket)) return false
      return true
    },
    closeAll () {
      const left = {
        http1: [...http1Sockets].length,
        http2: Math.max(sessions.size, sessionSockets.size),
        handshaking: handshaking.size
      }
      for (const server of servers) if ('closeAllConnections' in server) server.closeAllConnections()
      for (const session of sessions) session.destroy()
      for (const socket of sessionSockets) socket.destroy()
      for (const socket of http1Sockets) socket.destroy()
      for (const socket of handshaking) socket.destroy()
      return left
    }
  }
}
