// The README's "Testing an app that uses it" example, run as written: a request injected before drain() is in
// flight, whether or not it has reached the gate yet; it finishes, and later requests get 503.
// The code is the first ```js block after the heading "Testing an app that uses it", in README.md or docs/*.md.
import assert from 'node:assert'
import { readdirSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import graceful, { type DrainResult, type FastifyGracefulOptions } from '../../lib/index.ts'

const HEADING = /^#+ Testing an app that uses it\s*$/m

function example (): string {
  const root = new URL('../../', import.meta.url)
  const docs = readdirSync(new URL('docs/', root)).filter(name => name.endsWith('.md')).map(name => `docs/${name}`)
  for (const file of ['README.md', ...docs]) {
    const text = readFileSync(new URL(file, root), 'utf8')
    const heading = HEADING.exec(text)
    if (heading === null) continue
    const block = /^```js\n([\s\S]*?)^```$/m.exec(text.slice(heading.index))
    if (block !== null) return block[1]!
  }
  throw new Error('no ```js block after a heading "Testing an app that uses it" in README.md or docs/*.md')
}

type Run = (buildApp: (options: { graceful: FastifyGracefulOptions }) => Promise<FastifyInstance>, a: typeof assert) =>
Promise<{ slow: PromiseLike<{ statusCode: number }>, result: DrainResult }>
const AsyncFunction = (async () => {}).constructor as new (...args: string[]) => Run
const run = new AsyncFunction('buildApp', 'assert', `${example()}\nreturn { slow, result }`)

for (const ready of [false, true]) {
  t.test(`the README's testing example holds (buildApp ${ready ? 'awaits' : 'does not await'} ready())`, async t => {
    let app!: FastifyInstance
    const closed: string[] = []
    async function buildApp (options: { graceful: FastifyGracefulOptions }): Promise<FastifyInstance> {
      app = Fastify()
      await app.register(graceful, options.graceful)
      app.get('/', async () => 'ok')
      app.get('/slow', async () => {
        await sleep(200)
        return { slow: true }
      })
      app.addShutdownHook('pool', async () => { closed.push('pool') })
      if (ready) await app.ready()
      return app
    }
    const { slow, result } = await run(buildApp, assert)
    t.equal((await slow).statusCode, 200, 'the request injected before drain() is answered')
    t.match(result, { inflight: 1, completed: 1, cut: 0, refused: 0, timedOut: false })
    t.same(closed, ['pool'], 'the shutdown hooks ran at close()')
  })
}
