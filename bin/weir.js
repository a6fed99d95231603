#!/usr/bin/env node
// Entry point for `npx weir`. Runs the CLI from a bundle of the TypeScript sources (dist/weir.mjs), rebuilt with
// esbuild whenever a source file is newer than it (about 0.1 s), so there is no separate build step and no
// per-call transpiling. Set WEIR_TSX=1 to run the sources through tsx instead (development).
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'src', 'cli', 'main.ts');
const dist = join(root, 'dist', 'weir.mjs');

function newestMtime(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

let main;
if (process.env.WEIR_TSX === '1') {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(pathToFileURL(entry).href));
} else {
  if (!existsSync(dist) || statSync(dist).mtimeMs < newestMtime(join(root, 'src'))) {
    const esbuild = await import('esbuild');
    // Build into a private folder under the final file names (the source-map comment names weir.mjs.map), then move
    // both into place, so that concurrent first runs never see a half-written bundle.
    const tmpDir = join(root, 'dist', `.build-${process.pid}`);
    esbuild.buildSync({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      sourcemap: 'linked',
      outfile: join(tmpDir, 'weir.mjs'),
      logLevel: 'error',
    });
    renameSync(join(tmpDir, 'weir.mjs.map'), `${dist}.map`);
    renameSync(join(tmpDir, 'weir.mjs'), dist);
    rmSync(tmpDir, { recursive: true, force: true });
  }
  process.setSourceMapsEnabled(true);
  ({ main } = await import(pathToFileURL(dist).href));
}
process.exitCode = await main(process.argv);
