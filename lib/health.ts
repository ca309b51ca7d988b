import type { FastifyInstance } from 'fastify'
import { ADMIT } from './gate.ts'
import type { ResolvedHealth } from './options.ts'
import type { Traffic } from './traffic.ts'
import { withTimeout } from './timeout.ts'

/** A readiness check gets this long; a probe that waits longer than its own timeout counts as failed anyway. */
export const CHECK_TIMEOUT = 1000

/** Whether the user's check passes within its time: a throw, a rejection, `false` or a hang all mean "not ready". */
async function passes (check: () => unknown): Promise<boolean> {
  const verdict = await withTimeout(Promise.resolve().then(check).then(verdict => verdict !== false, () => false),
    CHECK_TIMEOUT)
  return verdict.done && verdict.value
}

/** @fastify/under-pressure's own verdict, when it is registered (its decorator is looked up at request time). */
function underPressure (fastify: FastifyInstance): boolean {
  const probe = (fastify as { isUnderPressure?: () => boolean }).isUnderPressure
  return typeof probe === 'function' && probe.call(fastify)
}

/**
 * Readiness fails from the first moment of a shutdown, so load balancers stop sending traffic while the process
 * still serves it; liveness answers while the port is open, so nobody restarts a draining pod.
 * Both pass the shutdown gate and @fastify/under-pressure's hook (a route pressureHandler that lets them by):
 * readiness reports pressure itself.
 */
export function addHealthRoutes (
  fastify: FastifyInstance, health: ResolvedHealth, serving: () => boolean, traffic: Pick<Traffic, 'probed'>
): void {
  const route = { logLevel: 'warn' as const, config: { [ADMIT]: true, pressureHandler: () => undefined } }
  fastify.get(health.readiness, route, async (request, reply) => {
    // Who polls readiness, and whether they were told: the shutdown keeps the port open until they have been.
    traffic.probed('readiness', request.ip, request.headers['user-agent'], !serving())
    const ready = serving() && !underPressure(fastify) && (health.check === null || await passes(health.check))
    reply.code(ready ? 200 : 503).header('cache-control', 'no-store')
    return { status: ready ? 'ok' : serving() ? 'unavailable' : 'shutting down' }
  })
  fastify.get(health.liveness, route, async (_request, reply) => {
    traffic.probed('liveness')
    reply.header('cache-control', 'no-store')
    return { status: 'ok' }
  })
}
