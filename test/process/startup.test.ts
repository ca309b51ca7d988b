// A signal during startup, before onReady (a deploy replaced the process while it was still connecting):
// the hooks registered so far run, and the exit is prompt, without waiting for the plugins still loading.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import t from 'tap'
import { fixture, nodeArgs, nodeEnv } from '../helpers/child.ts'

t.test('SIGTERM while a plugin still loads: the hooks registered so far run, exit 0 at once', async t => {
  const scenario = { slowStartup: 20_000, options: { timeout: 5000 }, hooks: [{ name: 'db', behaviour: 'ok' }, { name: 'queue', behaviour: 'ok' }] }
  const child = spawn(process.execPath, [...nodeArgs(), fixture('app.ts'), JSON.stringify(scenario)], { stdio: ['ignore', 'pipe', 'pipe'], env: nodeEnv() })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const lines: Array<Record<string, any>> = []
  let booting!: () => void
  const booted = new Promise<void>(resolve => { booting = resolve })
  createInterface({ input: child.stdout! }).on('line', text => {
    const line = JSON.parse(text)
    lines.push(line)
    if (line.booting !== undefined) booting()
  })
  const closed = once(child, 'close')
  await booted
  const sent = Date.now()
  child.kill('SIGTERM')
  const [code, signal] = await closed
  const took = Date.now() - sent
  t.equal(signal, null, 'not killed by the default signal action')
  t.equal(code, 0)
  t.ok(took < 3000, `exited ${took} ms after the signal (the plugin still loading needed 20 s)`)
  t.same(lines.filter(line => line.hook !== undefined).map(line => `${line.hook} ${line.at}`), ['main:queue start', 'main:queue end', 'main:db start', 'main:db end'])
  t.match(lines.find(line => line.graceful?.event === 'start'), { graceful: { cause: 'SIGTERM' } })
  t.match(lines.find(line => line.graceful?.event === 'end'), { graceful: { exitCode: 0, hooks: { ok: 2 } } })
  t.notOk(lines.some(line => line.listening !== undefined), 'the server never started listening')
})
