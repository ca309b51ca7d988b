// Median and spread of a list of numbers, and markdown tables for the console and the README.

export function quantile (sorted, q) {
  if (sorted.length === 0) return null
  const pos = (sorted.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo)
}

/** @param {number[]} values */
export function summarize (values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  return {
    n: sorted.length,
    median: quantile(sorted, 0.5),
    p25: quantile(sorted, 0.25),
    p75: quantile(sorted, 0.75),
    min: sorted.length ? sorted[0] : null,
    max: sorted.length ? sorted[sorted.length - 1] : null
  }
}

export function fmt (value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return 'n/a'
  if (typeof value !== 'number') return String(value)
  return Number(value.toFixed(digits)).toString()
}

// "median (p25–p75)"
export function fmtSpread (s, digits = 3, unit = '') {
  if (!s || s.n === 0) return 'n/a'
  if (s.n === 1) return `${fmt(s.median, digits)}${unit}`
  return `${fmt(s.median, digits)}${unit} (${fmt(s.p25, digits)}–${fmt(s.p75, digits)})`
}

export function table (headers, rows) {
  const lines = [
    `| ${headers.join(' | ')} |`,
    `|${headers.map(() => '---').join('|')}|`,
    ...rows.map((row) => `| ${row.join(' | ')} |`)
  ]
  return lines.join('\n')
}
