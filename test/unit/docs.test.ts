// The documentation is split over README.md, docs/, bench/, examples/ and ARCHITECTURE.md: every relative link and
// #anchor between them must lead somewhere, and the README stays a short read.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const root = fileURLToPath(new URL('../..', import.meta.url))
const SKIP = new Set(['node_modules', 'dist', '.cache', '.git'])

function markdownFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(entry => {
    if (SKIP.has(entry.name)) return []
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return markdownFiles(path)
    return entry.name.endsWith('.md') ? [path] : []
  })
}

const withoutCode = (text: string): string => text.replace(/^```[\s\S]*?^```/gm, '')

/** GitHub's anchors: headings lower-cased, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors (file: string): Set<string> {
  const seen = new Map<string, number>()
  const found = new Set<string>()
  for (const [, heading] of withoutCode(readFileSync(file, 'utf8')).matchAll(/^#{1,6}\s+(.+?)\s*$/gm)) {
    const slug = heading!.toLowerCase().replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/[^\p{L}\p{N}_\- ]/gu, '').replaceAll(' ', '-')
    const count = seen.get(slug) ?? 0
    seen.set(slug, count + 1)
    found.add(count === 0 ? slug : `${slug}-${count}`)
  }
  return found
}

t.test('every relative link and #anchor in the markdown files resolves', async t => {
  const files = markdownFiles(root)
  t.ok(files.length >= 8, 'README, ARCHITECTURE, docs/, bench/ and examples/ are all read')
  const broken: string[] = []
  for (const file of files) {
    for (const [, url] of withoutCode(readFileSync(file, 'utf8')).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(url!)) continue
      const [target, anchor] = url!.split('#')
      const path = target === '' ? file : resolve(dirname(file), target!)
      const where = `${relative(root, file)}: ${url}`
      if (!existsSync(path)) broken.push(`${where} (no such file)`)
      else if (anchor !== undefined && !anchors(path).has(anchor)) broken.push(`${where} (no such heading)`)
    }
  }
  t.same(broken, [])
})

t.test('the README stays a short read', async t => {
  const lines = readFileSync(join(root, 'README.md'), 'utf8').split('\n').length
  t.ok(lines <= 300, `README.md has ${lines} lines (at most 300)`)
})
