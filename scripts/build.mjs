#!/usr/bin/env node
// Builds dist/weir.mjs (and its source map): one esbuild bundle of src/cli/main.ts, npm packages kept external
// (they are the package's `dependencies`). `node scripts/build.mjs` builds unconditionally; npm runs it before
// packing (`prepack`), so the published package ships the bundle and never builds at run time. In a git checkout
// bin/weir.js calls buildIfStale() on every run instead: a rebuild (about 0.1 s) only when a file under src/ is
// newer than the bundle. This file and esbuild are needed only where the sources are, never in an installed package.
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** esbuild options of the bundle, without its entry and output. */
export const BUNDLE_OPTIONS = Object.freeze({
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  // Node maps stack traces through the linked map (process.setSourceMapsEnabled in bin/weir.js); it needs the
  // mappings only, so the sources' text is left out (a third of the package's size otherwise).
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'error',
});

/** The bundle's path under the package root `root`. */
export function bundlePath(root) {
  return join(root, 'dist', 'weir.mjs');
}

/** Newest modification time (ms since the epoch) of the files under `dir`, recursively. */
function newestMtimeMs(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtimeMs(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Bundles `root`/src/cli/main.ts into `root`/dist/weir.mjs. Builds into a private folder under the final file names
 * (the source-map comment names weir.mjs.map), then moves both into place, so that concurrent runs never see a
 * half-written bundle. Throws esbuild's error when the sources do not build, or a file-system error when dist/
 * cannot be written.
 */
export async function build(root) {
  const esbuild = await import('esbuild');
  const dist = bundlePath(root);
  const tmpDir = join(root, 'dist', `.build-${process.pid}`);
  try {
    esbuild.buildSync({
      ...BUNDLE_OPTIONS,
      entryPoints: [join(root, 'src', 'cli', 'main.ts')],
      outfile: join(tmpDir, 'weir.mjs'),
    });
    renameSync(join(tmpDir, 'weir.mjs.map'), `${dist}.map`);
    renameSync(join(tmpDir, 'weir.mjs'), dist);
  } finally {
    rmSync(tmpDir, { recursive: true, force: true });
  }
}

/** Rebuilds the bundle when it is missing or a file under `root`/src is newer than it (a git checkout). */
export async function buildIfStale(root) {
  const dist = bundlePath(root);
  if (!existsSync(dist) || statSync(dist).mtimeMs < newestMtimeMs(join(root, 'src'))) await build(root);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await build(join(dirname(fileURLToPath(import.meta.url)), '..'));
}
