// The summary line is what users read after a deploy: it must reach the log's destination before the exit.
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { start } from '../helpers/child.ts'

t.test('with a pino file transport (a worker thread) the start, every hook and the summary are in the file after the exit', async t => {
  const file = join(tmpdir(), `fastify-graceful-log-${process.pid}-${Date.now()}.log`)
  const child = await start('app.ts', { logFile: file, hooks: [{ name: 'db', behaviour: 'ok' }, { name: 'queue', behaviour: 'ok' }, { name: 'metrics', behaviour: 'ok' }] }, t)
  child.process.kill('SIGTERM')
  t.equal((await child.exited()).code, 0)
  const lines = readFileSync(file, 'utf8').trim().split('\n').map(line => JSON.parse(line))
  const events = lines.filter(line => line.graceful !== undefined).map(line => line.graceful.event === 'hook' ? `hook ${line.graceful.hook}` : line.graceful.event)
  t.same(events, ['start', 'hook main:metrics', 'hook main:queue', 'hook main:db', 'end'])
})

t.test('another SIGTERM listener that may exit first is named in a warning at startup', async t => {
  const child = await start('app.ts', { otherListener: true, second: true }, t)
  const warnings = child.lines.filter(line => line.graceful?.event === 'warning')
  t.equal(warnings.length, 1, 'once per process, though two instances start')
  t.match(warnings[0]?.msg, /another SIGTERM listener \(metricsExporter, anonymous\) may end the process before the graceful shutdown \(timeout 30000 ms\) finishes\. Remove it, or register fastify-graceful with signals: false and call app.close\(\) from it/)
  child.process.kill('SIGTERM')
  t.equal((await child.exited()).code, 0)
  t.match(child.stderr(), /FST_GRACEFUL_SIGNAL_LISTENER/, 'and a process warning')
})
