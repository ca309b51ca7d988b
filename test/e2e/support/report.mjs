// The side-by-side table printed by the runner and lifted into examples/README.md.
export function table (which, results) {
  const unit = which === 'pm2' ? 'reloads (restarts)' : 'restarts'
  const head = ['case', 'requests (GET/POST)', 'failed', 'failures by kind', unit, 'forced kills', 'SIGTERM → exit (median / max)', 'duration']
  const rows = results.map((r) => [
    r.name === 'plugin' ? 'fastify-graceful' : 'plain Fastify',
    `${r.requests} (${r.get}/${r.post})`,
    String(r.failed),
    Object.entries(r.byKind).map(([k, n]) => `${k}: ${n}`).join(', ') || '-',
    which === 'pm2' ? `${r.reloads} (${r.restarts})` : String(r.restarts),
    String(r.forcedKills),
    exitTimes(r.exitMs),
    `${(r.durationMs / 1000).toFixed(1)} s`
  ])
  return [head, head.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n')
}

function exitTimes (ms = []) {
  if (ms.length === 0) return '-'
  const sorted = [...ms].sort((a, b) => a - b)
  return `${sorted[Math.floor(sorted.length / 2)]} / ${sorted.at(-1)} ms`
}
