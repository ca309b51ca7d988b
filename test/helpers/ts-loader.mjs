// The TypeScript loader of the tests and of the processes they start, on Node lines without type stripping (20):
// esbuild strips the types in a few ms per file. tap's own TypeScript plugin is not loaded (package.json, tap.plugin):
// its ts-node spent about 0.75 s of CPU in every test process even with this loader in front, and 1.4 s where it did
// the loading. A test and its children run the same JavaScript, so their coverage of a .ts line adds up (the source
// map is inline). Where Node strips types itself (22 and later), Node does it, in the tests and the children alike.
import { register } from 'node:module'

if (!process.features.typescript) register('./ts-hooks.mjs', import.meta.url)
