import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ConfigSnapshot, snapshotFromTexts } from '../../src/config/snapshot.ts';
import { compileRouteTable, type RouteTable } from '../../src/routing/compile.ts';
import type { ProxyMode } from '../../src/routing/types.ts';
import { createSeededRng } from '../../src/util/random.ts';

/** Directory of the article's configurations (copies of shared/seed/yaml). */
export const SEED_DIR = join(import.meta.dirname, '..', 'fixtures', 'seed');

/** Reads seed files by prefix (`'00'`, `'01'`…) as text inputs. */
export function seed(...prefixes: string[]): { file: string; text: string }[] {
  const files: Record<string, string> = {
    '00': '00-mesh.yaml',
    '01': '01-destination-rule-subsets.yaml',
    '02': '02-composite-routing.yaml',
    '03': '03-source-labels.yaml',
    '04': '04-mirroring.yaml',
    '05': '05-destination-rule-consistent-hash.yaml',
    '06': '06-fifty-fifty.yaml',
    '07': '07-common-mistake.yaml',
    '08': '08-per-group-policy.yaml',
  };
  return prefixes.map((p) => {
    const file = join(SEED_DIR, files[p]!);
    return { file, text: readFileSync(file, 'utf8') };
  });
}

/** A snapshot from YAML texts (each string one file). */
export function snap(...texts: string[]): ConfigSnapshot {
  return snapshotFromTexts(texts.map((text, i) => ({ file: `f${i}.yaml`, text })));
}

/** A sidecar route table in namespace `default` (or the given mode). */
export function table(s: ConfigSnapshot, mode: Partial<ProxyMode> = {}): RouteTable {
  return compileRouteTable(s, { gateway: null, namespace: 'default', ...mode });
}

/** A deterministic RNG (mulberry32, shared with the backend and benchmarks). */
export const seededRng = createSeededRng;
