import type { FastifyInstance } from 'fastify'

/**
 * Fastify's close order (its docs, "Hooks: onClose"; fastify.js): close() runs the preClose hooks, then closes the
 * server, then runs the onClose hooks. Its own server-closing step is itself an onClose hook, added at preReady, and
 * avvio runs the onClose queue last in, first out, without a time limit. So an onClose hook added at onReady runs
 * before Fastify's step: before its `closing` flag makes return503OnClosing answer new requests 503, and before the
 * server closes. The drain must run there: a preClose hook would do (it comes before the server closes too), but
 * avvio fails a preClose hook that outlasts pluginTimeout. test/app/close-order.test.ts fails if an upgrade changes
 * this.
 */
export function beforeFastifyCloses (fastify: FastifyInstance, drain: () => Promise<void>): void {
  fastify.addHook('onReady', async () => {
    (fastify as unknown as { onClose (fn: () => Promise<void>): void }).onClose(drain)
  })
}
