#!/usr/bin/env -S node --max-semi-space-size=16
// The young generation is capped at 16 MB per semi-space, Node.js 20's default: on Node.js 24 and 26 V8 lets it grow
// to 32 MB with a large heap, which cost `weir serve` ≈ 30 MB of RSS at 1,000 req/s for no measured gain
// (docs/performance.md, "Node.js 20, 24 and 26"). `node bin/weir.js` bypasses this line: give the flag yourself.
// Entry point of the `weir` command: runs the CLI from dist/weir.mjs, an esbuild bundle of the TypeScript sources.
// An installed package ships that bundle (built when the package is packed, see scripts/build.mjs) and this script
// never writes into the package's folder, so it runs from a read-only prefix and as any user. In a git checkout
// (src/ is here) the bundle is rebuilt first whenever a source file is newer than it (about 0.1 s), so there is no
// separate build step; there WEIR_TSX=1 runs the sources through tsx instead (development).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'src', 'cli', 'main.ts');
const dist = join(root, 'dist', 'weir.mjs');
const checkout = existsSync(entry);

let main;
if (checkout && process.env.WEIR_TSX === '1') {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(pathToFileURL(entry).href));
} else {
  if (checkout) {
    const { buildIfStale } = await import('../scripts/build.mjs');
    await buildIfStale(root);
  } else if (!existsSync(dist)) {
    process.stderr.write(`weir: internal error: ${dist} is missing; this installation of weir is incomplete\n`);
    process.exit(1);
  }
  process.setSourceMapsEnabled(true);
  ({ main } = await import(pathToFileURL(dist).href));
}
process.exitCode = await main(process.argv);
