// A shutdown under load, plain Fastify against ours, as one SVG (two stacked panels).
// 64 keep-alive workers (GET and POST, 50–300 ms each, backing off 100 ms after a non-2xx);
// SIGTERM after a second of load; the load balancer stops routing new requests `lbDelay` ms later,
// as it does in Kubernetes.
// Requests are bucketed per 50 ms by the time their answer (or failure) arrived.
//   node bench/timeline.mjs [--quick] [--out dir]
import { writeFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startServer, now, pin } from './lib/proc.mjs'
import { startLoad } from './lib/client.mjs'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const BUCKET = 50

export const TIMELINE_VARIANTS = ['plain', 'ours']

/** @param {string} variant @param {{ deadline: number, cap: number, warm: number, lbDelay: number, workers: number }} opts */
export async function recordTimeline (variant, { deadline, cap, warm, lbDelay, workers }) {
  const server = await startServer(variant, { deadline, core: 0 })
  const state = { lbStopAt: Infinity }
  const load = startLoad({
    port: server.port,
    workers,
    maxDuration: warm + cap + 2000,
    // Like a client behind a load balancer: back off 100 ms after anything but a 2xx.
    think: (last) => last.outcome === 'answered' ? Math.random() * 20 : 100,
    next: (i) => {
      if (now() >= state.lbStopAt) return null
      const ms = 50 + Math.floor(Math.random() * 251)
      return i % 2 === 0
        ? { method: 'GET', path: `/work?ms=${ms}` }
        : { method: 'POST', path: `/echo?ms=${ms}`, body: { worker: i } }
    }
  })
  await sleep(warm)
  const signalAt = now()
  state.lbStopAt = signalAt + lbDelay
  server.child.kill('SIGTERM')
  const exit = await Promise.race([server.exited, sleep(cap).then(() => null)])
  const endAt = exit ? exit.at : now()
  if (!exit) await server.kill()
  await sleep(100)
  const records = await load.stop()

  const rel = (t) => Math.round((t - signalAt) * 10) / 10
  const requests = records
    .filter((r) => r.outcome !== 'aborted' && r.outcome !== 'connrefused')
    .map((r) => ({ end: rel(r.end), outcome: r.outcome === 'answered' || r.outcome === 'refused' ? r.outcome : 'failed', method: r.method }))
  const first503 = requests.filter((r) => r.outcome === 'refused').reduce((min, r) => Math.min(min, r.end), Infinity)
  const close = server.events.find((e) => e.type === 'phase' && e.name === 'close')
  const after = requests.filter((r) => r.end >= 0)
  return {
    variant,
    warm,
    lbDelay,
    cap,
    exit: exit ? { ms: rel(exit.at), code: exit.code ?? exit.signal } : { ms: rel(endAt), code: 'killed at cap' },
    phases: {
      signal: 0,
      lbStop: lbDelay,
      admissionClosed: Number.isFinite(first503) ? first503 : null,
      close: close ? rel(close.at) : null,
      exit: rel(endAt)
    },
    counts: {
      answered: after.filter((r) => r.outcome === 'answered').length,
      refused: after.filter((r) => r.outcome === 'refused').length,
      failed: after.filter((r) => r.outcome === 'failed').length,
      connrefused: records.filter((r) => r.outcome === 'connrefused' && r.end >= signalAt).length
    },
    requests
  }
}

const COLORS = { answered: '#2e7d32', refused: '#f2a900', failed: '#c62828' }
const TITLES = { plain: 'plain Fastify — process.on(\'SIGTERM\', () => app.close())', ours: 'fastify-graceful' }

function esc (s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** @param {Array<ReturnType<typeof recordTimeline> extends Promise<infer T> ? T : never>} panels */
export function renderSvg (panels, { machine = '' } = {}) {
  const W = 960
  const left = 56
  const right = 24
  const panelH = 190
  const top = 80
  const gap = 78
  const H = top + panels.length * (panelH + gap) + 44
  const plotW = W - left - right

  // x: a linear window around the action, then a compressed tail up to the last exit.
  const start = -Math.min(...panels.map((p) => p.warm), 1000)
  const busyEnd = Math.max(...panels.map((p) => Math.max(p.phases.lbStop, ...p.requests.map((r) => r.end)))) + 250
  const lastExit = Math.max(...panels.map((p) => p.phases.exit))
  const focusEnd = Math.max(Math.ceil((busyEnd + 300) / 500) * 500, 500)
  const tailEnd = lastExit > focusEnd ? lastExit + 200 : focusEnd
  const focusW = tailEnd > focusEnd ? plotW * 0.8 : plotW
  const x = (t) => {
    if (t <= focusEnd) return left + ((Math.max(t, start) - start) / (focusEnd - start)) * focusW
    return left + focusW + ((Math.min(t, tailEnd) - focusEnd) / (tailEnd - focusEnd)) * (plotW - focusW)
  }

  const buckets = panels.map((p) => {
    const map = new Map()
    for (const r of p.requests) {
      if (r.end < start || r.end > tailEnd) continue
      const b = Math.floor(r.end / BUCKET)
      if (!map.has(b)) map.set(b, { answered: 0, refused: 0, failed: 0 })
      map.get(b)[r.outcome]++
    }
    return map
  })
  const maxCount = Math.max(1, ...buckets.flatMap((m) => [...m.values()].map((c) => c.answered + c.refused + c.failed)))
  const yMax = Math.ceil(maxCount / 10) * 10

  const out = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`)
  out.push('<defs><pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="8" height="8" fill="#fbe9e7"/><line x1="0" y1="0" x2="0" y2="8" stroke="#e57373" stroke-width="2"/></pattern></defs>')
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`)
  out.push(`<text x="${left}" y="24" font-size="16" font-weight="bold">SIGTERM under keep-alive load: requests per ${BUCKET} ms, by when their answer arrived</text>`)
  out.push(`<text x="${left}" y="43" fill="#555">64 keep-alive workers, GET + POST of 50–300 ms; clients back off 100 ms after a 503; the load balancer stops routing ${panels[0].lbDelay} ms after SIGTERM.</text>`)
  // legend
  let lx = W - right - 330
  for (const [key, label] of [['answered', 'answered'], ['refused', 'refused 503'], ['failed', 'failed (no answer)']]) {
    out.push(`<rect x="${lx}" y="50" width="10" height="10" fill="${COLORS[key]}"/><text x="${lx + 14}" y="59">${label}</text>`)
    lx += key === 'refused' ? 96 : 90
  }

  panels.forEach((p, i) => {
    const y0 = top + i * (panelH + gap) + 22
    const yb = y0 + panelH
    const y = (n) => yb - (n / yMax) * panelH
    out.push(`<text x="${left}" y="${y0 - 24}" font-size="14" font-weight="bold">${esc(TITLES[p.variant] ?? p.variant)}</text>`)
    const summary = `after SIGTERM: ${p.counts.answered} answered · ${p.counts.refused} refused 503 · ${p.counts.failed} failed · ` +
      (p.exit.code === 'killed at cap' ? `still running at ${(p.cap / 1000).toFixed(0)} s: killed` : `exit ${p.exit.code} at ${p.exit.ms.toFixed(0)} ms`) +
      (p.counts.connrefused ? ` · ${p.counts.connrefused} connects refused by the closed listener (not drawn)` : '')
    out.push(`<text x="${left}" y="${y0 - 8}" fill="#333">${esc(summary)}</text>`)
    out.push(`<rect x="${left}" y="${y0}" width="${plotW}" height="${panelH}" fill="#fafafa" stroke="#ddd"/>`)
    // grid
    out.push(`<text transform="translate(${left - 36} ${y0 + panelH / 2}) rotate(-90)" text-anchor="middle" fill="#777" font-size="11">requests / ${BUCKET} ms</text>`)
    for (let n = 0; n <= yMax; n += yMax / 2) {
      out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(n)}" y2="${y(n)}" stroke="#e6e6e6"/><text x="${left - 6}" y="${y(n) + 4}" text-anchor="end" fill="#777">${n}</text>`)
    }
    // the process alive with nothing to do: idle keep-alive sockets holding close()
    const lastEnd = Math.max(p.phases.lbStop, ...p.requests.map((r) => r.end))
    if (p.phases.exit - lastEnd > 500) {
      const x1 = x(lastEnd + 100)
      const x2 = x(p.phases.exit)
      out.push(`<rect x="${x1}" y="${y0 + 1}" width="${x2 - x1}" height="${panelH - 2}" fill="url(#hatch)" opacity="0.7"/>`)
      out.push(`<text x="${(x1 + x2) / 2}" y="${y0 + panelH / 2 - 6}" text-anchor="middle" font-size="13" fill="#b71c1c">nothing left to serve, process still up:</text>`)
      out.push(`<text x="${(x1 + x2) / 2}" y="${y0 + panelH / 2 + 12}" text-anchor="middle" font-size="13" fill="#b71c1c">idle keep-alive sockets hold server.close() (keepAliveTimeout 72 s)</text>`)
    }
    // bars
    for (const [b, c] of buckets[i]) {
      const t0 = b * BUCKET
      const bx = x(t0)
      const bw = Math.max(1, x(t0 + BUCKET) - bx - 0.6)
      let acc = 0
      for (const key of ['answered', 'refused', 'failed']) {
        if (!c[key]) continue
        out.push(`<rect x="${bx.toFixed(1)}" y="${y(acc + c[key]).toFixed(1)}" width="${bw.toFixed(1)}" height="${(y(acc) - y(acc + c[key])).toFixed(1)}" fill="${COLORS[key]}"/>`)
        acc += c[key]
      }
    }
    // phases
    const marks = [
      { t: p.phases.signal, label: 'SIGTERM', color: '#000' },
      p.phases.admissionClosed !== null && { t: p.phases.admissionClosed, label: 'first 503', color: '#b07800' },
      { t: p.phases.lbStop, label: 'LB stops routing', color: '#888', dash: true },
      p.phases.close !== null && { t: p.phases.close, label: 'app.close()', color: '#1565c0' },
      { t: p.phases.exit, label: p.exit.code === 'killed at cap' ? 'killed at cap' : `exit ${p.exit.code}`, color: p.exit.code === 0 ? '#2e7d32' : '#c62828' }
    ].filter(Boolean).sort((a, b) => a.t - b.t)
    let lastX = -Infinity
    let row = 0
    for (const m of marks) {
      const mx = x(m.t)
      row = mx - lastX < 80 ? row + 1 : 0
      lastX = mx
      out.push(`<line x1="${mx.toFixed(1)}" x2="${mx.toFixed(1)}" y1="${y0}" y2="${yb}" stroke="${m.color}" stroke-width="1.5"${m.dash ? ' stroke-dasharray="4 3"' : ''}/>`)
      const nearEdge = mx > left + plotW - 90
      out.push(`<text x="${(nearEdge ? mx - 3 : mx + 3).toFixed(1)}" y="${y0 + 13 + row * 13}" fill="${m.color}" font-size="11"${nearEdge ? ' text-anchor="end"' : ''}>${esc(m.label)}</text>`)
    }
    // x axis
    const ticks = []
    for (let t = Math.ceil(start / 500) * 500; t <= focusEnd; t += 500) ticks.push(t)
    if (tailEnd > focusEnd) ticks.push(Math.round(lastExit / 100) * 100)
    for (const t of ticks) {
      out.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${yb}" y2="${yb + 4}" stroke="#555"/><text x="${x(t)}" y="${yb + 16}" text-anchor="middle" fill="#555">${(t / 1000).toFixed(1)} s</text>`)
    }
    if (tailEnd > focusEnd) {
      const bx = left + focusW
      out.push(`<rect x="${bx - 4}" y="${yb - 6}" width="8" height="12" fill="#fff"/><line x1="${bx - 6}" y1="${yb + 6}" x2="${bx - 2}" y2="${yb - 6}" stroke="#555"/><line x1="${bx + 2}" y1="${yb + 6}" x2="${bx + 6}" y2="${yb - 6}" stroke="#555"/>`)
    }
  })
  out.push(`<text x="${left}" y="${H - 24}" fill="#777">time from SIGTERM; axis compressed after the break</text>`)
  out.push(`<text x="${left}" y="${H - 8}" fill="#777">bench/timeline.mjs, from a real run${machine ? `: ${esc(machine)}` : ''}</text>`)
  out.push('</svg>')
  return out.join('\n') + '\n'
}

/** @param {{ deadline: number, cap: number, warm: number, lbDelay: number, workers: number, out: string, machine?: string, log?: (s: string) => void }} opts */
export async function runTimeline ({ out, machine, log = () => {}, ...opts }) {
  const panels = []
  const errors = {}
  for (const variant of TIMELINE_VARIANTS) {
    try {
      const panel = await recordTimeline(variant, opts)
      panels.push(panel)
      log(`  timeline ${variant}: ${panel.counts.answered} answered, ${panel.counts.refused} refused, ${panel.counts.failed} failed after the signal; exit ${panel.exit.code} at ${panel.exit.ms} ms`)
    } catch (err) {
      errors[variant] = err.message
    }
  }
  const file = join(out, 'timeline.svg')
  if (panels.length) {
    await mkdir(out, { recursive: true })
    await writeFile(file, renderSvg(panels, { machine }))
  }
  return {
    config: opts,
    file,
    variants: Object.fromEntries(TIMELINE_VARIANTS.map((v) => {
      const p = panels.find((panel) => panel.variant === v)
      return [v, p ? { exit: p.exit, phases: p.phases, counts: p.counts } : { error: errors[v] }]
    }))
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick')
  const outAt = process.argv.indexOf('--out')
  const out = outAt > 0 ? process.argv[outAt + 1] : fileURLToPath(new URL('.', import.meta.url))
  pin(process.pid, 1)
  const result = await runTimeline({ out, workers: 64, warm: quick ? 400 : 1000, lbDelay: 200, deadline: quick ? 1000 : 10000, cap: quick ? 2000 : 12000, log: console.log })
  console.log(`wrote ${result.file}`)
}
