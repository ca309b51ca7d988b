import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

/*
 * Every private field of Node, Fastify and their libraries that the plugin reads, and nothing else: each says what it
 * is, where it comes from, and what the plugin does where a version no longer has it. test/app/private.test.ts checks
 * each one on the Node and Fastify installed (it runs in the Node matrix), so an upgrade that moves one fails there
 * first.
 */

// ---- Fastify ----

/** Plugin contexts inherit from the root instance (Object.create): the root is the one whose prototype is Object's. */
function rootOf (fastify: object): object {
  let root = fastify
  while (Object.getPrototypeOf(root) !== Object.prototype) root = Object.getPrototypeOf(root)
  return root
}

/**
 * Fastify keeps some state under symbols of its own on the root instance: its options ('fastify.options'), the extra
 * servers it binds for 'localhost' ('fastify.serverBindings'), its log controller ('fastify.logController').
 * Undefined when Fastify changes them; every caller has a fallback.
 */
export function fastifyInternal<T> (fastify: object, description: string): T | undefined {
  const root = rootOf(fastify)
  const key = Object.getOwnPropertySymbols(root).find(symbol => symbol.description === description)
  return key === undefined ? undefined : (root as Record<symbol, T>)[key]
}

/** Whether this is the root instance rather than an encapsulated context. False if unsure: the warning stays on. */
export function isRootInstance (fastify: object): boolean {
  return Object.getPrototypeOf(fastify) === Object.prototype
}

/**
 * Whether Fastify will run its onResponse step for this response once it finishes: it listens for the end of every
 * response it runs onResponse for (onResFinished, setupResponseListeners in its reply.js). False where it is renamed:
 * nothing is waited for beyond the response, as before.
 */
export function runsOnResponse (res: { listeners (event: 'finish'): Array<{ name: string }> }): boolean {
  return res.listeners('finish').some(listener => listener.name === 'onResFinished')
}

// ---- Node's HTTP server ----

type NodeSocket = Socket & {
  _httpMessage?: ServerResponse | null
  _parent?: Socket
  server?: unknown
  parser?: { incoming?: IncomingMessage | null } | null
}

/**
 * The response an HTTP/1 socket is busy with, from the first byte of its request to the last of the response (Node's
 * _httpMessage); undefined until its first request, null between two. Where Node drops it, a request is found
 * nowhere but where it is tracked one by one (lib/inflight.ts tracks those it cannot find on their socket).
 */
export function busyWith (socket: object): ServerResponse | null | undefined {
  return (socket as NodeSocket)._httpMessage
}

/** The latest request read on an HTTP/1 socket whose response has not finished (its parser's incoming), if any. */
export function latestRequest (socket: object | null): IncomingMessage | null | undefined {
  return (socket as NodeSocket | null)?.parser?.incoming
}

/** Whether Node's HTTP/1 parser still reads this socket: an upgraded one (a WebSocket) has left HTTP. */
export function parsedByHttp (socket: object): boolean {
  return (socket as NodeSocket).parser != null
}

/** The server that accepted this socket (net.Server sets it on each connection). */
export function serverOf (socket: object): unknown {
  return (socket as NodeSocket).server
}

/** The TCP connection under a TLS socket (tls.TLSSocket's _parent): undefined where Node no longer keeps it. */
export function tcpUnder (socket: object): Socket | undefined {
  return (socket as NodeSocket)._parent
}

// ---- Node's HTTP/2 server ----

/**
 * The socket under an HTTP/2 session (Node's kSocket, 'socket'), until Node's close of the session lets go of it;
 * session.socket is only a proxy that refuses destroy(). Undefined where Node no longer keeps it: the socket then goes
 * at the close phase's end, with every connection left.
 */
export function socketOfSession (session: object): Socket | undefined {
  const key = Object.getOwnPropertySymbols(session).find(symbol => symbol.description === 'socket')
  return key === undefined ? undefined : (session as Record<symbol, Socket | undefined>)[key]
}

/** Node's own list of an HTTP/1 server's connections, from listen() on: the one its closeIdleConnections() reads. */
export interface NodeConnections {
  all (): Array<{ socket?: Socket | null }>
}

/** That list ('http.server.connections'), or undefined: then the plugin follows each connection itself. */
export function nodeConnections (server: object): NodeConnections | undefined {
  const key = Object.getOwnPropertySymbols(server).find(symbol => symbol.description === 'http.server.connections')
  const list = key === undefined ? undefined : (server as Record<symbol, NodeConnections | undefined>)[key]
  return typeof list?.all === 'function' ? list : undefined
}

// ---- light-my-request (inject()) ----

type Dispatch = (this: unknown, req: IncomingMessage, res: ServerResponse) => unknown

/**
 * What inject() returns without a callback is light-my-request's Chain, which dispatches its request a tick later (or
 * when awaited) through its `dispatch` property. Wraps it; false where there is none (inject() with a callback, or a
 * version without it): the request is then found at the gate only, as before.
 */
export function wrapInjectDispatch (chain: unknown, wrap: (dispatch: Dispatch) => Dispatch): boolean {
  const dispatch = (chain as { dispatch?: unknown } | undefined)?.dispatch
  if (typeof dispatch !== 'function') return false
  ;(chain as { dispatch: Dispatch }).dispatch = wrap(dispatch as Dispatch)
  return true
}

// ---- signal-exit ----

/**
 * signal-exit (used by tap, execa, write-file-atomic and many more) listens on every signal but acts only when its own
 * listeners are the last ones left: recognised by its source text. Where it changes, it is warned about like any
 * other listener.
 */
export function isSignalExit (listener: Function): boolean {
  return /listeners\.length === (?:emitter\.)?count\b/.test(Function.prototype.toString.call(listener))
}

// ---- node:worker_threads ----

/**
 * Whether this code runs in a worker thread, told without loading node:worker_threads (loaded at startup, it changes
 * how V8 sizes a serving process's young generation): Node replaces process.abort there with unavailableInWorker.
 * Where that changes, a worker thread is taken for the main thread, and the warning about signals is not given.
 */
export function inWorkerThread (): boolean {
  return process.abort.name === 'unavailableInWorker'
}

// ---- node:cluster ----

/**
 * Node's cluster code exits a worker with code 0 as soon as its primary goes away, unless the worker's
 * exitedAfterDisconnect is set (documented, but as read-only): setting it lets the worker shut down gracefully.
 * False when it was set already (the primary disconnected the worker on purpose).
 */
export function keepWorkerAfterPrimary (worker: { exitedAfterDisconnect?: boolean }): boolean {
  if (worker.exitedAfterDisconnect === true) return false
  worker.exitedAfterDisconnect = true
  return true
}
