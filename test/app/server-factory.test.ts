// A server from serverFactory that the app listens on by itself (a custom Next.js server, Socket.IO sharing it) is the
// app's, not Fastify's: as with plain Fastify, close() leaves it listening. With fastify.listen() it is Fastify's.
import http from 'node:http'
import t from 'tap'
import { build } from '../helpers/app.ts'
import { request } from '../helpers/http.ts'

function sharedServer (): { server: http.Server, serverFactory: (handler: http.RequestListener) => http.Server } {
  const server = http.createServer()
  return {
    server,
    serverFactory: handler => server.on('request', (req, res) => {
      // Another handler on the same server answers what is not Fastify's.
      if (req.url === '/other') res.end('other')
      else handler(req, res)
    })
  }
}

t.test('the app listens on its server itself: close() leaves it listening, its other handler still answers', async t => {
  const { server, serverFactory } = sharedServer()
  const { app } = await build({}, { serverFactory })
  app.get('/', async () => 'fastify')
  await app.ready()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const { port } = server.address() as { port: number }
  t.equal((await request(port, '/')).body, 'fastify')

  await app.close()
  t.ok(server.listening, 'still listening after close()')
  const answer = await request(port, '/other', { agent: new http.Agent({ keepAlive: false }) })
  t.equal(answer.status, 200, 'a new connection is accepted')
  t.equal(answer.body, 'other')
})

t.test('fastify.listen() on a server from serverFactory: the drain closes its port', async t => {
  const { server, serverFactory } = sharedServer()
  const { app } = await build({}, { serverFactory })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = server.address() as { port: number }
  const result = app.drain()
  await result
  t.notOk(server.listening, 'the drain closed the port')
  t.equal((await request(port, '/other')).error, 'ECONNREFUSED')
  await app.close()
})
