// A TCP connection to a TLS port that never starts its handshake is closed like any idle socket:
// close() resolves, the shutdown hooks run and the process exits 0 promptly, with no hard stop.
// h2c has no handshake: there the same silent socket is one before its HTTP/2 preface, held today as well.
import net from 'node:net'
import tls from 'node:tls'
import { once } from 'node:events'
import t from 'tap'
import { makeCertificate } from '../helpers/certs.ts'
import { shutdownMs, start } from '../helpers/child.ts'
import type { Transport } from '../helpers/clients.ts'

const certificate = await makeCertificate()
const env = { TEST_TLS_KEY: certificate.key, TEST_TLS_CERT: certificate.cert }
const TIMEOUT = 5000
const transports: Transport[] = ['https', 'h2', 'h2-allow-http1', 'h2c']

for (const transport of transports) {
  t.test(`${transport}: a connection still before its TLS handshake does not hold the shutdown`, async t => {
    const child = await start('connections.ts', { transport, timeout: TIMEOUT, hook: true }, t, { env })
    const socket = net.connect(child.ports[0]!, '127.0.0.1')
    t.teardown(() => socket.destroy())
    socket.on('error', () => {})
    await once(socket, 'connect')
    child.process.kill('SIGTERM')
    const { code } = await child.exited(TIMEOUT + 5000)
    const ms = shutdownMs(child)

    t.equal(code, 0, 'exit 0, not the hard stop\'s 1')
    t.ok(ms < 1000, `exited ${ms} ms after the shutdown began, far below the ${TIMEOUT} ms timeout`)
    t.ok(child.lines.some(line => line.hook === 'cleanup'), 'the shutdown hook ran')
    t.match(child.lines.find(line => line.graceful?.event === 'end')?.graceful, { exitCode: 0, requests: { cut: 0 } }, 'the summary was logged: the shutdown ended on its own')
  })
}

for (const transport of ['h2', 'h2-allow-http1'] as const) {
  t.test(`${transport}: a connection past its TLS handshake that never sends the HTTP/2 preface does not hold the shutdown`, async t => {
    const child = await start('connections.ts', { transport, timeout: TIMEOUT, hook: true }, t, { env })
    const socket = tls.connect({ port: child.ports[0]!, host: '127.0.0.1', ca: certificate.cert, ALPNProtocols: ['h2'] })
    t.teardown(() => socket.destroy())
    socket.on('error', () => {})
    await once(socket, 'secureConnect')
    t.equal(socket.alpnProtocol, 'h2', 'precondition: HTTP/2 was negotiated')
    child.process.kill('SIGTERM')
    const { code } = await child.exited(TIMEOUT + 5000)
    const ms = shutdownMs(child)
    t.equal(code, 0, 'exit 0, not the hard stop\'s 1')
    t.ok(ms < 1000, `exited ${ms} ms after the shutdown began, far below the ${TIMEOUT} ms timeout`)
    t.ok(child.lines.some(line => line.hook === 'cleanup'), 'the shutdown hook ran')
  })
}
