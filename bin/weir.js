#!/usr/bin/env node
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
