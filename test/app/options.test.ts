// Bad input is refused at registration, with an error that names the option and the value.
import Fastify from 'fastify'
import t from 'tap'
import graceful from '../../lib/index.ts'

const refused: Array<[string, Record<string, unknown>, RegExp]> = [
  ['a negative timeout', { timeout: -1 }, /option "timeout" must be a number of milliseconds above 0 and at most 2147483647, got -1/],
  ['a timeout of zero', { timeout: 0 }, /"timeout".*got 0/],
  ['a non-finite timeout', { timeout: Infinity }, /"timeout".*got Infinity/],
  ['a timeout a Node timer cannot hold', { timeout: 2 ** 31 }, /"timeout".*got 2147483648/],
  ['a timeout given as a string', { timeout: '30s' }, /"timeout".*got '30s'/],
  ['NaN as hookTimeout', { hookTimeout: NaN }, /"hookTimeout".*got NaN/],
  ['an unknown signal', { signals: ['SIGTERM', 'SIGFOO'] }, /option "signals" must be false or an array of SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR2, got 'SIGFOO'/],
  ['a signal that cannot be caught', { signals: ['SIGKILL'] }, /"signals".*got 'SIGKILL'/],
  ['signals as a string', { signals: 'SIGTERM' }, /"signals".*got 'SIGTERM'/],
  ['signals: true', { signals: true }, /"signals".*got true/],
  ['exit as a string', { exit: 'yes' }, /option "exit" must be true or false, got 'yes'/],
  ['a negative retryAfter', { retryAfter: -5 }, /option "retryAfter" must be false or a whole number of seconds, 0 or more, got -5/],
  ['a fractional retryAfter', { retryAfter: 1.5 }, /"retryAfter".*got 1.5/],
  ['retryAfter: true', { retryAfter: true }, /"retryAfter".*got true/],
  ...['timeout', 'hookTimeout', 'signals', 'exit', 'retryAfter', 'delay', 'maxDelay', 'health'].map(name => [`${name}: null`, { [name]: null }, new RegExp(`option "${name}" must be .*, got null$`)] as [string, Record<string, unknown>, RegExp]),
  ['a misspelt option', { timout: 1000 }, /unknown option "timout" \(got 1000\); known options are: timeout, hookTimeout, signals, exit, retryAfter, delay, maxDelay, health/]
]

for (const [what, options, message] of refused) {
  t.test(`refuses ${what}`, async t => {
    const app = Fastify()
    t.teardown(() => app.close())
    await t.rejects(async () => { await app.register(graceful, options as never) }, { message, code: /^FST_GRACEFUL_(INVALID|UNKNOWN)_OPTION$/ })
  })
}

t.test('accepts every option at its edge, and Fastify\'s own register options', async t => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(graceful, { timeout: 1, hookTimeout: 2 ** 31 - 1, signals: false, exit: false, retryAfter: 0, logLevel: 'warn' } as never)
  await app.ready()
  t.equal(app.isShuttingDown, false)
})

t.test('duplicate signals are listened to once', async t => {
  const app = Fastify()
  const before = process.listenerCount('SIGTERM')
  await app.register(graceful, { signals: ['SIGTERM', 'SIGTERM'] })
  await app.ready()
  t.equal(process.listenerCount('SIGTERM'), before + 1)
  await app.close()
  t.equal(process.listenerCount('SIGTERM'), before, 'close() removes the plugin\'s process listeners')
})
