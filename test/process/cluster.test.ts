// Node's cluster module: when the primary goes away (SIGTERM to it alone, or to every process at once as systemd's
// KillMode=control-group does), each worker shuts down gracefully instead of Node's immediate process.exit(0).
import t from 'tap'
import { start } from '../helpers/child.ts'
import { request } from '../helpers/http.ts'

for (const target of ['the primary alone', 'every process at once (process group)'] as const) {
  t.test(`SIGTERM to ${target}, requests in flight: every one answered, hooks run, workers exit 0`, async t => {
    const child = await start('cluster.ts', {}, t, { detached: true })
    t.teardown(() => { try { process.kill(-child.process.pid!, 'SIGKILL') } catch {} })
    const workers: number[] = child.ready.workers
    const inFlight = Array.from({ length: 8 }, () => request(child.ports[0]!, '/slow'))
    // Each request reached a worker before the signal.
    for (let seen = 0; seen < 8;) {
      await new Promise(resolve => setTimeout(resolve, 10))
      seen = child.lines.filter(line => line.msg === 'incoming request').length
    }
    if (target === 'the primary alone') child.process.kill('SIGTERM')
    else process.kill(-child.process.pid!, 'SIGTERM')
    const answers = await Promise.all(inFlight)
    t.same(answers.map(answer => answer.status), Array(8).fill(200), 'no request failed')
    // The pipe closes once every process of the cluster has exited.
    const { signal } = await child.exited(15_000)
    t.equal(signal, 'SIGTERM', 'the primary has no handler and dies of the signal')
    for (const pid of workers) {
      t.ok(child.lines.some(line => line.pid === pid && line.hook === 'db'), `worker ${pid} ran its shutdown hook`)
      t.same(child.lines.filter(line => line.pid === pid && line.exit !== undefined).map(line => line.exit), [0], `worker ${pid} exited 0`)
      const started = child.lines.find(line => line.pid === pid && line.graceful?.event === 'start')
      t.ok(started !== undefined, `worker ${pid} logged its graceful shutdown`)
      if (target === 'the primary alone') t.equal(started?.graceful.cause, 'disconnect')
    }
  })
}

t.test('the primary dies and a worker\'s hook fails: that worker exits 1', async t => {
  const child = await start('cluster.ts', { mode: 'failing hook' }, t)
  child.process.kill('SIGTERM')
  await child.exited(15_000)
  for (const pid of child.ready.workers as number[]) {
    t.same(child.lines.filter(line => line.pid === pid && line.exit !== undefined).map(line => line.exit), [1], `worker ${pid} exited 1`)
  }
})

t.test('the primary disconnects its workers on purpose: Node\'s own way, no graceful shutdown of the plugin', async t => {
  const child = await start('cluster.ts', { mode: 'primary disconnects' }, t)
  await child.exited(15_000)
  for (const pid of child.ready.workers as number[]) {
    t.same(child.lines.filter(line => line.pid === pid && line.exit !== undefined).map(line => line.exit), [0], `worker ${pid} exited 0`)
    t.notOk(child.lines.some(line => line.pid === pid && line.graceful?.event === 'start'), 'no graceful shutdown began')
  }
})
