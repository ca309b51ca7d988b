// HAProxy 2.6 in front of the app instances, on loopback, with an active readiness check.
import { spawnSync } from 'node:child_process'
import { connect } from 'node:net'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { start, until } from './procs.mjs'

export const CHECK = { inter: 250, fall: 1, rise: 1, timeout: 1000 }

/** `haproxy -v` first line, or null when haproxy is not on PATH. */
export function haproxyVersion () {
  const res = spawnSync('haproxy', ['-v'], { encoding: 'utf8' })
  if (res.error || res.status !== 0) return null
  return res.stdout.split('\n')[0]
}

/**
 * HTTP mode, a common production setup, with the reason for each choice:
 * - active check on the readiness route every 250 ms, DOWN after 1 failure, UP after 1 success.
 * - `retries 2` + `option redispatch`: a refused connect (instance gone, port closed) is retried on
 *   the other server. `retry-on` keeps its default (conn-failure): nothing was sent, so this is safe
 *   for POST too, and a 503 or a reset after the request was sent is never retried.
 *   With `retries: false`, `retries 0` and no redispatch: a refused connect is the client's 503, as behind
 *   the balancers that do not retry (Traefik without its Retry middleware, Envoy without a retry policy, a cloud
 *   L7 balancer, Go-based proxies in general).
 * - `http-reuse safe` (the default, spelled out): server connections are kept alive and shared;
 *   we do not hide keep-alive races behind `option http-server-close`.
 * - `option dontlog-normal`: only abnormal sessions (errors, retries, redispatches) are logged
 *   (E2E_HAPROXY_LOG_ALL=1 logs every request, to follow one by its x-request-id).
 */
/**
 * How HAProxy speaks to the instances, and checks them over the same protocol: HTTP/1.1 (http), HTTP/1.1 over TLS
 * (https), HTTP/2 in clear (h2c: `proto h2`), HTTP/2 over TLS (h2: ALPN h2). No certificate check (self-signed).
 */
export const SERVER_PROTO = {
  http: '',
  https: ' ssl verify none check-ssl',
  h2c: ' proto h2 check-proto h2',
  h2: ' ssl verify none alpn h2 check-ssl check-alpn h2'
}

export function haproxyConfig ({ port, servers, socket, retries = true, proto = 'http' }) {
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
  ${retries ? 'retries 2\n  option redispatch' : 'retries 0'}
  http-reuse safe

frontend fe
  bind 127.0.0.1:${port}
  http-request capture req.hdr(x-request-id) len 32
  default_backend app

backend app
  balance roundrobin
  http-response set-header x-served-by %[srv_name]
  option httpchk
  http-check send meth GET uri /health/ready ver HTTP/1.1 hdr Host localhost
  http-check expect status 200
  default-server check inter ${CHECK.inter} fastinter ${CHECK.inter} downinter ${CHECK.inter} fall ${CHECK.fall} rise ${CHECK.rise}
${servers.map(({ name, port }) => `  server ${name} 127.0.0.1:${port}${SERVER_PROTO[proto]}`).join('\n')}
`
}

/**
 * Kubernetes-like L4 balancing (a Service through kube-proxy): TCP mode, round robin over new
 * connections, no health checks and no retries. The test takes a server out with the runtime API
 * (`set server app/a state maint`) some time after its SIGTERM, as endpoint removal would, and back
 * in (`state ready`) once the new instance answers its liveness route.
 */
export function haproxyTcpConfig ({ port, servers, socket }) {
  return `global
  log stdout format raw local0 info
  stats socket ${socket} mode 600 level admin
  maxconn 2000

defaults
  mode tcp
  log global
  option tcplog
  option dontlog-normal
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  retries 0

frontend fe
  bind 127.0.0.1:${port}
  default_backend app

backend app
  balance roundrobin
${servers.map(({ name, port }) => `  server ${name} 127.0.0.1:${port}`).join('\n')}
`
}

export async function startHaproxy ({ dir, port, servers, tcp = false, retries = true, proto = 'http' }) {
  const socket = join(dir, 'haproxy.sock')
  const cfg = join(dir, 'haproxy.cfg')
  writeFileSync(cfg, (tcp ? haproxyTcpConfig : haproxyConfig)({ port, servers, socket, retries, proto }))
  const log = []
  const proc = start('haproxy', ['-db', '-f', cfg])
  proc.child.stdout.on('data', (chunk) => log.push(...chunk.toString().split('\n').filter(Boolean)))
  proc.child.stderr.on('data', (chunk) => log.push(...chunk.toString().split('\n').filter(Boolean)))
  const stats = () => showStat(socket)
  await until(async () => (await stats().catch(() => null)) !== null || proc.child.exitCode !== null,
    { ms: 10_000, what: 'the HAProxy stats socket' })
  if (proc.child.exitCode !== null) throw new Error(`haproxy exited at start:\n${log.join('\n')}`)
  const admin = (command) => adminCommand(socket, command)
  return { proc, log, stats, admin, socket, port }
}

/** One runtime API command over the admin socket; resolves to its output. */
export function adminCommand (socket, command) {
  return new Promise((resolve, reject) => {
    const conn = connect(socket)
    let data = ''
    conn.setEncoding('utf8')
    conn.on('connect', () => conn.end(`${command}\n`))
    conn.on('data', (chunk) => { data += chunk })
    conn.on('error', reject)
    conn.on('close', () => resolve(data.trim()))
  })
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
