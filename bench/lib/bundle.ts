import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Bundles bench/peers/weir-entry.ts once per run, with the same esbuild options as bin/weir.js, under
 * node_modules/.cache (so its external packages resolve): the code under test cannot change between rounds.
 */
export async function bundleWeir(root: string): Promise<string> {
  const esbuild = await import('esbuild');
  const outDir = join(root, 'node_modules', '.cache', 'weir-bench');
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, `weir-bench-${process.pid}.mjs`);
  esbuild.buildSync({
    entryPoints: [join(root, 'bench', 'peers', 'weir-entry.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outfile,
    logLevel: 'error',
  });
  return outfile;
}
