// The BullMQ facts the README's consumer pattern rests on, checked on a real redis-server with the installed bullmq:
// a processor declared (job, token, signal) gets a signal; worker.cancelAllJobs() aborts it; job.moveToWait(token)
// plus `throw new WaitingError()` leaves the job waiting (not failed, no lock, no attempt counted) for the next worker;
// worker.pause() resolves only once the jobs it holds are done, and takes no new job meanwhile.
import t from 'tap'
import { Queue, Worker, WaitingError, type Job } from 'bullmq'
import { Redis } from 'ioredis'
import { setTimeout as sleep } from 'node:timers/promises'
import { missing } from '../helpers/system.ts'
// @ts-expect-error: a plain ES module of the e2e support, without types
import { startRedis } from './support/services.mjs'
// @ts-expect-error: the same
import { until } from './support/procs.mjs'

t.setTimeout(60_000)

const skip = missing('redis-server', { args: ['--version'] })

t.test('BullMQ: a job cut by cancelAllJobs() goes back to wait, not to failed', { skip }, async t => {
  const redis = await startRedis()
  t.teardown(() => redis.remove())
  const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null }
  const queue = new Queue('handback', { connection })
  t.teardown(() => queue.close())

  const started: string[] = []
  const worker = new Worker('handback', async (job: Job, token?: string, signal?: AbortSignal) => {
    started.push(job.id!)
    try {
      await sleep(30_000, undefined, { signal })
    } catch (err) {
      if (signal?.aborted) { await job.moveToWait(token); throw new WaitingError() }
      throw err
    }
  }, { connection, concurrency: 2 })
  t.teardown(() => worker.close(true))

  await queue.add('job', { n: 1 }, { jobId: 'one' })
  await queue.add('job', { n: 2 }, { jobId: 'two' })
  await until(() => started.length === 2, { ms: 10_000, what: 'both jobs to start' })
  t.equal((await queue.getJobCounts('active')).active, 2, 'both jobs are active')

  // pause() waits for the jobs held; cancelAllJobs() hands them back, and then pause() resolves.
  let paused = false
  const pausing = worker.pause().then(() => { paused = true })
  await sleep(300)
  t.notOk(paused, 'pause() has not resolved while the jobs it holds still run')
  worker.cancelAllJobs()
  await Promise.race([pausing, sleep(10_000).then(() => { throw new Error('pause() did not resolve after cancelAllJobs()') })])

  const counts = await queue.getJobCounts('waiting', 'active', 'failed', 'completed')
  t.same(counts, { waiting: 2, active: 0, failed: 0, completed: 0 }, 'both jobs are waiting again, none failed')
  const client = new Redis({ host: '127.0.0.1', port: redis.port })
  t.teardown(() => client.quit())
  for (const id of ['one', 'two']) {
    const job = await queue.getJob(id)
    t.equal(job?.attemptsMade, 0, `${id}: no attempt counted (a job with attempts: 1 is not used up)`)
    t.notOk(await client.exists(`bull:handback:${id}:lock`), `${id}: no lock left behind`)
  }
  t.equal(started.length, 2, 'the paused worker took no new job')

  // The next instance takes them.
  const done: string[] = []
  const next = new Worker('handback', async (job: Job) => { done.push(job.id!) }, { connection })
  t.teardown(() => next.close())
  await until(() => done.length === 2, { ms: 10_000, what: 'the next worker to process both jobs' })
  t.same(done.sort(), ['one', 'two'], 'the next worker processed both jobs')
  await until(async () => (await queue.getJobCounts('completed')).completed === 2, { ms: 5000, what: 'completed: 2' })
  t.equal(await queue.getFailedCount(), 0, 'nothing in the failed set')
})

t.test('BullMQ: without a third parameter the processor gets no signal (the pattern needs (job, token, signal))', { skip }, async t => {
  const redis = await startRedis()
  t.teardown(() => redis.remove())
  const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null }
  const queue = new Queue('nosignal', { connection })
  t.teardown(() => queue.close())
  const seen: Array<AbortSignal | undefined> = []
  // BullMQ decides by the processor's declared length (processor.length >= 3): a rest parameter hides it.
  const worker = new Worker('nosignal', async (...args: unknown[]) => { seen.push(args[2] as AbortSignal | undefined) }, { connection })
  t.teardown(() => worker.close())
  await queue.add('job', {})
  await until(() => seen.length === 1, { ms: 10_000, what: 'the job to run' })
  t.equal(seen[0], undefined, 'no signal: cancelAllJobs() could not reach this processor')
})
