// nginx (open-source build) in front of the app instances, on loopback: a foreground child of the
// test with its own prefix, configuration, pid, logs and temp dirs in the scenario's temp dir, so it
// never touches /etc/nginx or the system service. One process (`master_process off`): a SIGKILL in
// teardown leaves no worker behind; proxying is the same as in a worker.
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect } from 'node:net'
import { start, until } from './procs.mjs'

/** `nginx -v` (printed on stderr), or null when nginx is not on PATH. */
export function nginxVersion () {
  const res = spawnSync('nginx', ['-v'], { encoding: 'utf8' })
  if (res.error || res.status !== 0) return null
  return res.stderr.trim()
}

/**
 * A common production setup, with the defaults left as they are where they matter:
 * - passive health only (active checks are in the commercial build): `max_fails=1` (the default) takes
 *   a server out after one failed attempt, for `fail_timeout=3s` (10 s by default: shorter here so
 *   that 10 restarts, each waiting for nginx to use the new instance, fit in CI time);
 * - `proxy_next_upstream error timeout` (the default): a refused or reset connection is retried on
 *   the other server, a 503 is passed to the client; POST is not retried once sent
 *   (`non_idempotent` is off by default);
 * - upstream keepalive: pooled HTTP/1.1 connections to the instances, as recommended for Node backends;
 * - `tls`: HTTPS to the instances (`proxy_pass https://`), TLS sessions reused, no certificate check (self-signed).
 */
export function nginxConfig ({ dir, port, servers, tls = false }) {
  return `daemon off;
master_process off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'nginx-error.log')} warn;

events {
  worker_connections 1024;
}

http {
  access_log off;
  client_body_temp_path ${join(dir, 'nginx-tmp', 'body')};
  proxy_temp_path ${join(dir, 'nginx-tmp', 'proxy')};
  fastcgi_temp_path ${join(dir, 'nginx-tmp', 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'nginx-tmp', 'uwsgi')};
  scgi_temp_path ${join(dir, 'nginx-tmp', 'scgi')};
  keepalive_timeout 30s;

  upstream app {
${servers.map(({ port }) => `    server 127.0.0.1:${port} max_fails=1 fail_timeout=3s;`).join('\n')}
    keepalive 32;
    keepalive_timeout 30s;
  }

  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass ${tls ? 'https' : 'http'}://app;${tls ? '\n      proxy_ssl_verify off;\n      proxy_ssl_session_reuse on;' : ''}
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_connect_timeout 1s;
      proxy_read_timeout 10s;
      add_header x-served-by $upstream_addr always;
    }
  }
}
`
}

export async function startNginx ({ dir, port, servers, tls = false }) {
  mkdirSync(join(dir, 'nginx-tmp'), { recursive: true })
  const cfg = join(dir, 'nginx.conf')
  writeFileSync(cfg, nginxConfig({ dir, port, servers, tls }))
  const log = []
  // -p and -e: the prefix and the start-up error log are ours, before the configuration is read.
  const proc = start('nginx', ['-p', dir, '-e', join(dir, 'nginx-error.log'), '-c', cfg])
  proc.child.stdout.on('data', (chunk) => log.push(...chunk.toString().split('\n').filter(Boolean)))
  proc.child.stderr.on('data', (chunk) => log.push(...chunk.toString().split('\n').filter(Boolean)))
  await until(async () => (await answers(port)) || proc.child.exitCode !== null, { ms: 10_000, what: 'nginx listening' })
  if (proc.child.exitCode !== null) throw new Error(`nginx exited at start:\n${log.join('\n')}`)
  return { proc, log, port }
}

// A TCP connect only: a request through nginx before the instances listen would mark them failed.
function answers (port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}
