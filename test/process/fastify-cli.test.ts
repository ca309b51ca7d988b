// fastify-cli installs its own close-with-grace, which exits 500 ms after SIGTERM by default.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import http from 'node:http'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import t from 'tap'
import { fixture, nodeArgs, nodeEnv } from '../helpers/child.ts'
import { cliGraceDelay, CLI_GRACE_DELAY, readCommandLine } from '../../lib/neighbours.ts'

const cli = createRequire(import.meta.url).resolve('fastify-cli/cli.js')

async function startCli (t: { teardown (fn: () => void): void }, extra: string[], env: Record<string, string> = {}) {
  const socketPath = join(tmpdir(), `fastify-graceful-cli-${process.pid}-${Math.random().toString(36).slice(2)}.sock`)
  const child = spawn(process.execPath, [...nodeArgs(), cli, 'start', '-l', 'info', '-s', socketPath, ...extra, fixture('cli-app.ts')], {
    env: nodeEnv(env),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const lines: Array<Record<string, any>> = []
  let stderr = ''
  child.stderr.on('data', chunk => { stderr += chunk })
  const listening = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', text => {
      try { lines.push(JSON.parse(text)) } catch { lines.push({ text }) }
      if (/Server listening/.test(text)) resolve()
    })
    child.once('exit', () => reject(new Error(`fastify-cli exited before listening: ${stderr}`)))
  })
  await listening
  const exited = once(child, 'close').then(([code]) => ({ code: code as number, at: Date.now() }))
  const get = (path: string) => new Promise<{ status?: number, error?: string }>(resolve => {
    http.get({ socketPath, path }, res => { res.resume(); res.on('end', () => resolve({ status: res.statusCode })) })
      .on('error', err => resolve({ error: (err as NodeJS.ErrnoException).code }))
  })
  return { child, lines, stderr: () => stderr, exited, get }
}

t.test('with fastify-cli\'s default grace delay the plugin warns at startup, with the exact fix', async t => {
  const app = await startCli(t, [])
  const warning = /fastify-cli will exit the process 500 ms after SIGTERM \(its closeGraceDelay\), before the graceful shutdown's timeout of 5000 ms\. Start it with `fastify start --close-grace-delay 6000` or FASTIFY_CLOSE_GRACE_DELAY=6000/
  t.ok(app.lines.some(line => line.level === 40 && warning.test(line.msg)), 'a log line')
  app.child.kill('SIGTERM')
  await app.exited
  // Read once the process is gone: a process warning reaches stderr on a later tick than the log line.
  t.match(app.stderr(), warning, 'and a process warning, visible even at fastify-cli\'s default log level')
  t.match(app.stderr(), /FST_GRACEFUL_SIGNAL_LISTENER/)
})

t.test('with a grace delay above timeout, a request in flight finishes, the shutdown runs once, exit 0', async t => {
  const app = await startCli(t, ['--close-grace-delay', '8000'])
  const slow = app.get('/slow')
  await new Promise(resolve => setTimeout(resolve, 100))
  app.child.kill('SIGTERM')
  t.equal((await slow).status, 200)
  const { code } = await app.exited
  t.equal(code, 0)
  t.equal(app.lines.filter(line => line.hook === 'db').length, 1, 'the hooks ran once')
  t.equal(app.lines.filter(line => line.graceful?.event === 'end').length, 1, 'one summary')
  t.equal(app.lines.filter(line => line.graceful?.event === 'start').length, 1, 'one start')
  t.notMatch(app.stderr(), /FST_GRACEFUL_SIGNAL_LISTENER/, 'no warning when the delay is long enough')
})

t.test('FASTIFY_CLOSE_GRACE_DELAY counts too', async t => {
  const app = await startCli(t, [], { FASTIFY_CLOSE_GRACE_DELAY: '9000' })
  app.child.kill('SIGTERM')
  t.equal((await app.exited).code, 0)
  t.notMatch(app.stderr(), /FST_GRACEFUL_SIGNAL_LISTENER/)
})

t.test('reading fastify-cli\'s grace delay', async t => {
  t.equal(cliGraceDelay(['node', 'cli.js', 'start', '-g', '7000', 'app.js'], {}), 7000)
  t.equal(cliGraceDelay(['node', 'cli.js', 'start', '-g7000', 'app.js'], {}), 7000)
  t.equal(cliGraceDelay(['node', 'cli.js', 'start', '--close-grace-delay=15000', 'app.js'], {}), 15000)
  t.equal(cliGraceDelay(['node', 'cli.js', 'start', '--close-grace-delay', '15000', 'app.js'], { FASTIFY_CLOSE_GRACE_DELAY: '1' }), 15000, 'the command line wins')
  t.equal(cliGraceDelay(['node', 'cli.js', 'start', 'app.js', '--', '-g', '9'], { FASTIFY_CLOSE_GRACE_DELAY: '2500' }), 2500, 'flags after -- belong to the app')
  t.equal(cliGraceDelay(['node', 'cli.js', 'start', 'app.js'], { FASTIFY_CLOSE_GRACE_DELAY: 'soon' }), CLI_GRACE_DELAY)
  t.equal(cliGraceDelay(['node', 'cli.js', 'start', 'app.js'], {}), 500)
  t.equal(cliGraceDelay(), 500, 'this test process has neither')
  t.same(readCommandLine('/nonexistent/cmdline'), [], 'no /proc (macOS): no command line, no crash')
  t.equal(readCommandLine()[0], process.argv0)
})
