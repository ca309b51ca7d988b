/**
 * Fastify keeps some state under symbols of its own on the root instance (its options, the extra listening servers
 * for 'localhost'). Plugin contexts inherit from the root, so the lookup walks up to it; undefined when Fastify
 * changes its internals, and every caller has a fallback for that.
 */
export function fastifyInternal<T> (fastify: object, description: string): T | undefined {
  let root = fastify
  while (Object.getPrototypeOf(root) !== Object.prototype) root = Object.getPrototypeOf(root)
  const key = Object.getOwnPropertySymbols(root).find(symbol => symbol.description === description)
  return key === undefined ? undefined : (root as Record<symbol, T>)[key]
}
