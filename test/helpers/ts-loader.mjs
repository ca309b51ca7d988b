// The TypeScript loader of the tests and of the processes they start, on Node lines without type stripping (20):
// esbuild strips the types in a few ms per file, where ts-node (tap's loader there) spends about 1.4 s of CPU starting
// each process, loading the TypeScript compiler. Registered after tap's loader (package.json, tap.node-arg), it comes
// first: a test and its children run the same JavaScript, so their coverage of a .ts line adds up (the source map is
// inline). Where Node strips types itself (22 and later), Node does it, in the tests and the children alike.
import { register } from 'node:module'

if (!process.features.typescript) register('./ts-hooks.mjs', import.meta.url)
