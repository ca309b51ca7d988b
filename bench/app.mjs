// One app factory for every variant: the same routes, the same Fastify options,
// only the shutdown wiring differs. Each variant is listed with its README recipe.
import Fastify from 'fastify'

export const VARIANTS = {
  plain: 'plain Fastify: process.on(SIGTERM, () => app.close())',
  'close-with-grace': 'close-with-grace README recipe',
  'fastify-graceful-shutdown': 'fastify-graceful-shutdown plugin',
  terminus: '@godaddy/terminus on app.server',
  'http-terminator': 'http-terminator on app.server',
  ours: 'fastify-graceful (this package)',
  'under-pressure': '@fastify/under-pressure onRequest hook (overhead reference only)',
  'bare-hook': 'an onRequest hook that checks one boolean: the floor for any admission gate (overhead reference only)',
  graceful: 'fastify-graceful with signals: false (the lockstep measure)',
  // Bench-only: pieces of the plugin on top of bare-hook, any of BISECT_PARTS joined by '+' (the lockstep bisect).
  'bisect-<parts>': 'bare-hook + the named pieces of what the plugin does, e.g. bisect-sockets+has'
}

export const BISECT_PARTS = {
  sockets: 'every socket in a Set, with a close listener (lib/connections.ts)',
  has: 'a Set lookup of the request\'s socket per request (lib/inflight.ts admit)',
  now: 'performance.now() per request (lib/inflight.ts admit)',
  listener: 'a second \'request\' listener on the HTTP server (lib/outside.ts)',
  hook2: 'a second onRequest hook that calls a function (lib/outside.ts markGated)',
  decorate: 'the plugin\'s decorators: five on the instance, waitUntil on the request prototype (lib/index.ts)'
}

// The peers compared on shutdown behaviour (measures 2, 3 and the timeline).
export const SHUTDOWN_VARIANTS = ['plain', 'close-with-grace', 'fastify-graceful-shutdown', 'terminus', 'http-terminator', 'ours']

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * @param {string} variant one of VARIANTS
 * @param {{ deadline: number, notify: (event: object) => void }} opts
 *   deadline: every peer's own time limit (ms); notify: tells the harness what happens inside
 */
export async function buildApp (variant, { deadline, notify, dist = '../dist' }) {
  // graceful=<dir>: the plugin built into another folder (an ablated copy of dist/, for the bisect).
  const [base, elsewhere] = variant.split('=')
  if (elsewhere) return buildApp(base, { deadline, notify, dist: elsewhere })
  if (!(variant in VARIANTS) && !isBisect(variant)) throw new Error(`unknown variant ${variant}`)
  const app = Fastify({ logger: false })

  // Observed for every variant alike: the moment app.close() starts its hooks.
  app.addHook('preClose', (done) => {
    notify({ type: 'phase', name: 'close', at: now() })
    done()
  })

  await wire(app, variant, deadline, dist)

  app.get('/hello', async () => ({ hello: 'world' }))

  // A request that takes `ms` to answer: the load of measures 2d, 3 and the timeline.
  app.get('/work', async (request) => {
    await sleep(Number(request.query.ms) || 0)
    return { ok: true }
  })
  app.post('/echo', async (request) => {
    await sleep(Number(request.query.ms) || 0)
    return request.body
  })

  // Tells the harness it is in flight, so the signal lands with exactly `ms` left.
  app.get('/slow', async (request) => {
    const ms = Number(request.query.ms) || 0
    notify({ type: 'inflight', url: request.url, at: now() })
    await sleep(ms)
    return { ok: true }
  })

  // Never answers.
  app.get('/hang', (request) => {
    notify({ type: 'inflight', url: request.url, at: now() })
  })

  // Held until the harness releases every such request at once (never, for a hung one); counted, not notified one by
  // one: the scale measure sends tens of thousands.
  app.get('/held', () => {
    held.count++
    return held.released
  })

  return app
}

/** The requests to /held so far, and what answers them all (bench/server.mjs's 'release'). */
export const held = { count: 0, release: () => {}, released: null }
held.released = new Promise((resolve) => { held.release = () => resolve({ ok: true }) })

function isBisect (variant) {
  return variant.startsWith('bisect-') && variant.slice(7).split('+').every((part) => part in BISECT_PARTS)
}

// bare-hook plus the named pieces of the plugin's per-connection and per-request work.
function wireBisect (app, parts) {
  const state = { closed: false, last: 0, shuttingDown: false }
  const sockets = new Set()
  if (parts.includes('sockets')) {
    app.server.on('connection', (socket) => {
      sockets.add(socket)
      socket.once('close', () => sockets.delete(socket))
    })
  }
  if (parts.includes('listener')) {
    app.server.on('request', (req, res) => {
      if (!state.shuttingDown) return
      res.once('finish', () => { state.last++ })
    })
  }
  const isShuttingDown = () => state.shuttingDown
  if (parts.includes('hook2')) {
    app.addHook('onRequest', (request, reply, done) => {
      if (isShuttingDown()) state.last++
      done()
    })
  }
  if (parts.includes('decorate')) {
    app.decorate('isShuttingDown', { getter: () => state.shuttingDown })
    app.decorate('shutdownSignal', new AbortController().signal)
    app.decorate('drain', () => {})
    app.decorate('addShutdownHook', () => {})
    app.decorate('waitUntil', () => {})
    app.decorateRequest('waitUntil', function () { state.last++ })
  }
  const has = parts.includes('has')
  const stamp = parts.includes('now')
  app.addHook('onRequest', (request, reply, done) => {
    if (state.closed) return reply.code(503).send()
    if (stamp) state.last = performance.now()
    if (has && !sockets.has(request.raw.socket)) state.last++
    done()
  })
  process.on('SIGTERM', () => { state.closed = true; app.close() })
}

function now () {
  return performance.timeOrigin + performance.now()
}

async function wire (app, variant, deadline, dist) {
  if (isBisect(variant)) return wireBisect(app, variant.slice(7).split('+'))
  switch (variant) {
    case 'bare-hook': {
      const state = { closed: false }
      app.addHook('onRequest', (request, reply, done) => {
        if (state.closed) reply.code(503).send()
        else done()
      })
      process.on('SIGTERM', () => { state.closed = true; app.close() })
      return
    }
    case 'plain':
    case 'under-pressure': {
      if (variant === 'under-pressure') {
        const { default: underPressure } = await import('@fastify/under-pressure')
        // A limit that is never reached, so its onRequest hook runs its checks on every request.
        await app.register(underPressure, { maxEventLoopDelay: 10000, maxHeapUsedBytes: 1e12, maxRssBytes: 1e12 })
      }
      process.on('SIGTERM', () => app.close())
      return
    }
    case 'close-with-grace': {
      const { default: closeWithGrace } = await import('close-with-grace')
      closeWithGrace({ delay: deadline }, async function ({ err }) {
        if (err) app.log.error({ err }, 'server closing with error')
        await app.close()
      })
      return
    }
    case 'fastify-graceful-shutdown': {
      const { default: gracefulShutdown } = await import('fastify-graceful-shutdown')
      await app.register(gracefulShutdown, { timeout: deadline })
      return
    }
    case 'terminus': {
      const { createTerminus } = await import('@godaddy/terminus')
      createTerminus(app.server, {
        signals: ['SIGTERM'],
        timeout: deadline,
        onSignal: () => app.close()
      })
      return
    }
    case 'http-terminator': {
      const { createHttpTerminator } = await import('http-terminator')
      const terminator = createHttpTerminator({ server: app.server, gracefulTerminationTimeout: deadline })
      process.once('SIGTERM', async () => {
        await terminator.terminate()
        await app.close()
      })
      return
    }
    case 'ours': {
      const { default: graceful } = await import(new URL(`${dist}/index.js`, import.meta.url))
      // delay 0 explicitly: its default becomes 5 s under Kubernetes, which would skew every case.
      await app.register(graceful, { timeout: deadline, delay: 0 })
      return
    }
    case 'graceful': {
      const { default: graceful } = await import(new URL(`${dist}/index.js`, import.meta.url))
      await app.register(graceful, { timeout: deadline, delay: 0, signals: false })
    }
  }
}
