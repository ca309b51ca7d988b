// HAProxy 2.6 in front of the app instances, on loopback, with an active readiness check.
import { spawnSync } from 'node:child_process'
import { connect } from 'node:net'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { start, until } from './procs.mjs'

export const CHECK = { inter: 200, fall: 2, rise: 1, timeout: 1000 }

/** `haproxy -v` first line, or null when haproxy is not on PATH. */
export function haproxyVersion () {
  const res = spawnSync('haproxy', ['-v'], { encoding: 'utf8' })
  if (res.error || res.status !== 0) return null
  return res.stdout.split('\n')[0]
}

/**
 * The configuration, with the reason for each choice (see examples/README.md):
 * - active check on the readiness route every 200 ms, DOWN after 2 failures, UP after 1 success:
 *   a draining instance is out of rotation within fall*inter (+ one interval of phase) ~ 600 ms,
 *   so the plugin's `delay` must be longer than that.
 * - `retries 3` + `option redispatch 1`: a refused connect (instance gone, port closed) is retried
 *   on the other server; nothing was sent, so this is safe for POST too.
 * - `retry-on conn-failure empty-response response-timeout`, but L7 retries are disabled for
 *   non-idempotent methods: POST is retried only when the connection itself failed.
 * - `http-reuse safe` (the default, spelled out): server connections are kept alive and shared;
 *   we do not hide keep-alive races behind `option http-server-close`.
 * - `option dontlog-normal`: only abnormal sessions (errors, retries, redispatches) are logged
 *   (E2E_HAPROXY_LOG_ALL=1 logs every request, to follow one by its x-request-id).
 */
export function haproxyConfig ({ port, servers, socket }) {
  return `global
  log stdout format raw local0 info
  stats socket ${socket} mode 600 level admin
  maxconn 2000

defaults
  mode http
  log global
  option httplog
  ${process.env.E2E_HAPROXY_LOG_ALL ? '' : 'option dontlog-normal'}
  timeout connect 1s
  timeout client 30s
  timeout server 5s
  timeout http-keep-alive 30s
  timeout check ${CHECK.timeout}ms
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response response-timeout
  http-reuse safe

frontend fe
  bind 127.0.0.1:${port}
  http-request capture req.hdr(x-request-id) len 32
  default_backend app

backend app
  balance roundrobin
  acl idempotent method GET HEAD PUT DELETE OPTIONS
  http-request disable-l7-retry unless idempotent
  http-response set-header x-served-by %[srv_name]
  option httpchk
  http-check send meth GET uri /health/ready ver HTTP/1.1 hdr Host localhost
  http-check expect status 200
  default-server check inter ${CHECK.inter} fastinter ${CHECK.inter} downinter ${CHECK.inter} fall ${CHECK.fall} rise ${CHECK.rise}
${servers.map(({ name, port }) => `  server ${name} 127.0.0.1:${port}`).join('\n')}
`
}

export async function startHaproxy ({ dir, port, servers }) {
  const socket = join(dir, 'haproxy.sock')
  const cfg = join(dir, 'haproxy.cfg')
  writeFileSync(cfg, haproxyConfig({ port, servers, socket }))
  const log = []
  const proc = start('haproxy', ['-db', '-f', cfg])
  proc.child.stdout.on('data', (chunk) => log.push(...chunk.toString().split('\n').filter(Boolean)))
  proc.child.stderr.on('data', (chunk) => log.push(...chunk.toString().split('\n').filter(Boolean)))
  const stats = () => showStat(socket)
  await until(async () => (await stats().catch(() => null)) !== null || proc.child.exitCode !== null,
    { ms: 10_000, what: 'the HAProxy stats socket' })
  if (proc.child.exitCode !== null) throw new Error(`haproxy exited at start:\n${log.join('\n')}`)
  return { proc, log, stats, socket, port }
}

/** `show stat` over the admin socket: { [server name]: { status, check } } for backend `app` (check: L7OK, L7STS, L4CON...). */
export function showStat (socket) {
  return new Promise((resolve, reject) => {
    const conn = connect(socket)
    let data = ''
    conn.setEncoding('utf8')
    conn.on('connect', () => conn.end('show stat\n'))
    conn.on('data', (chunk) => { data += chunk })
    conn.on('error', reject)
    conn.on('close', () => {
      const [header, ...rows] = data.trim().split('\n')
      if (!header?.startsWith('# ')) return reject(new Error(`unexpected stats output: ${data}`))
      const cols = header.slice(2).split(',')
      const status = {}
      for (const row of rows) {
        const cells = row.split(',')
        const rec = Object.fromEntries(cols.map((c, i) => [c, cells[i]]))
        if (rec.pxname === 'app' && rec.svname !== 'BACKEND') status[rec.svname] = { status: rec.status, check: rec.check_status }
      }
      resolve(status)
    })
  })
}
