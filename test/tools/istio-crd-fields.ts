/**
 * Generates `test/fixtures/istio-crd-fields.json`: every field path of the OpenAPI schemas of the Istio CRDs weir
 * reads (VirtualService, DestinationRule, ServiceEntry, WorkloadEntry, Gateway), in every served API version of
 * every Istio release given, with its type and enum values. `test/unit/config/crd-fields.test.ts` checks that weir's
 * schemas accept each of them, so strict unknown-field checking never rejects a field Istio has.
 *
 * The source is istio/istio's generated CRD file, `manifests/charts/base/files/crd-all.gen.yaml` (before Istio 1.24:
 * `manifests/charts/base/crds/crd-all.gen.yaml`). Only the field list derived from it is kept in the project.
 *
 * Usage (an istio/istio clone or bare git directory; refs are tags or commits):
 *   node --import tsx test/tools/istio-crd-fields.ts --git-dir PATH REF...
 * The committed fixture was made from the latest patch release of every minor 1.16 to 1.30 and master at 86c9f01
 * (`1.16.7 1.17.8 … 1.30.3 86c9f01fd735fb01d8192f5bcaf0d424afb7f14c`); the fixture lists each ref with its commit.
 * A field present in only some of them carries `since`/`until` (or `only`); none has been removed since 1.16, and the
 * three API versions (v1alpha3, v1beta1, v1) have had the same fields throughout.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** The kinds weir reads, as the CRDs name them. */
const KINDS = ['VirtualService', 'DestinationRule', 'ServiceEntry', 'WorkloadEntry', 'Gateway'] as const;
const CRD_PATHS = ['manifests/charts/base/files/crd-all.gen.yaml', 'manifests/charts/base/crds/crd-all.gen.yaml'];

interface OpenApi {
  type?: string;
  properties?: Record<string, OpenApi>;
  items?: OpenApi;
  additionalProperties?: OpenApi | boolean;
  enum?: unknown[];
  format?: string;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

/** One field: its type (`int-or-string`, `preserve` for free-form objects) and, for enums, the allowed values. */
interface Field {
  type: string;
  enum?: string[];
  /** The first Istio ref (in the order given) that has the field, when not the first. */
  since?: string;
  /** The last Istio ref that has the field, when not the last. */
  until?: string;
  /** The API versions that have the field, when not all served ones do. */
  apiVersions?: string[];
  /** `ref/apiVersion` pairs that have the field, when the above cannot say it. */
  only?: string[];
}

/**
 * Walks a schema and records the leaves: scalars, free-form objects and objects without properties. Paths use
 * `[]` for list items and `{}` for map values: `spec.http[].match[].headers{}.exact`.
 */
function walk(s: OpenApi, path: string, out: Map<string, Omit<Field, 'only'>>): void {
  if (s['x-kubernetes-preserve-unknown-fields']) {
    out.set(path, { type: 'preserve' });
    return;
  }
  if (s['x-kubernetes-int-or-string']) {
    out.set(path, { type: 'int-or-string' });
    return;
  }
  if (s.type === 'array' && s.items) {
    walk(s.items, `${path}[]`, out);
    return;
  }
  if (s.type === 'object' || s.properties) {
    const props = Object.entries(s.properties ?? {});
    if (typeof s.additionalProperties === 'object') walk(s.additionalProperties, `${path}{}`, out);
    else if (props.length === 0) out.set(path, { type: 'object' });
    for (const [k, child] of props) walk(child, `${path}.${k}`, out);
    return;
  }
  const f: Omit<Field, 'only'> = { type: s.type ?? 'unknown' };
  if (s.enum) f.enum = s.enum.map(String);
  out.set(path, f);
}

/** Says compactly which `ref/apiVersion` pairs of `all` have a field seen in `seen`. */
function where(seen: string[], all: string[], refs: string[]): Partial<Field> {
  if (seen.length === all.length) return {};
  const split = (pair: string) =>
    [pair.slice(0, pair.lastIndexOf('/')), pair.slice(pair.lastIndexOf('/') + 1)] as const;
  const seenRefs = refs.filter((r) => seen.some((p) => split(p)[0] === r));
  const versions = [...new Set(seen.map((p) => split(p)[1]))].sort();
  const product = all.filter((p) => seenRefs.includes(split(p)[0]) && versions.includes(split(p)[1]));
  const first = refs.indexOf(seenRefs[0]!);
  const contiguous = seenRefs.every((r, k) => refs.indexOf(r) === first + k);
  if (product.length !== seen.length || !contiguous) return { only: seen };
  const out: Partial<Field> = {};
  if (first > 0) out.since = seenRefs[0]!;
  if (refs.indexOf(seenRefs.at(-1)!) < refs.length - 1) out.until = seenRefs.at(-1)!;
  const allVersions = new Set(all.filter((p) => seenRefs.includes(split(p)[0])).map((p) => split(p)[1]));
  if (versions.length < allVersions.size) out.apiVersions = versions;
  return out;
}

function git(gitDir: string, args: string[]): string {
  return execFileSync('git', ['--git-dir', gitDir, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

function main(argv: string[]): void {
  const i = argv.indexOf('--git-dir');
  if (i < 0 || !argv[i + 1]) throw new Error('usage: istio-crd-fields.ts --git-dir PATH REF...');
  const gitDir = argv[i + 1]!;
  const refs = argv.filter((_, j) => j !== i && j !== i + 1);
  if (refs.length === 0) throw new Error('give at least one istio/istio ref');
  const fields = new Map<string, Map<string, Field & { seen: string[] }>>(KINDS.map((k) => [k, new Map()]));
  const sources: { ref: string; commit: string; path: string; versions: Record<string, string[]> }[] = [];
  const allPairs: Record<string, string[]> = Object.fromEntries(KINDS.map((k) => [k, []]));
  const labels: string[] = [];
  for (const given of refs) {
    const commit = git(gitDir, ['rev-parse', `${given}^{commit}`]).trim();
    // A release tag names itself; a branch or commit is named as `git describe` says (e.g. 1.31.0-alpha.0-109-g86c9f01).
    const ref = git(gitDir, ['describe', '--tags', '--always', commit]).trim();
    labels.push(ref);
    const path = CRD_PATHS.find((p) => git(gitDir, ['ls-tree', '--name-only', commit, p]).trim() !== '');
    if (!path) throw new Error(`${ref}: no crd-all.gen.yaml`);
    const versions: Record<string, string[]> = {};
    for (const doc of parseAllDocuments(git(gitDir, ['show', `${commit}:${path}`]))) {
      const crd = doc.toJS() as {
        spec?: {
          names?: { kind?: string };
          versions?: { name: string; served: boolean; schema?: { openAPIV3Schema?: OpenApi } }[];
        };
      } | null;
      const kind = crd?.spec?.names?.kind as (typeof KINDS)[number] | undefined;
      if (!kind || !KINDS.includes(kind)) continue;
      for (const v of crd!.spec!.versions ?? []) {
        if (!v.served || !v.schema?.openAPIV3Schema) continue;
        (versions[kind] ??= []).push(v.name);
        const pair = `${ref}/${v.name}`;
        allPairs[kind]!.push(pair);
        const leaves = new Map<string, Omit<Field, 'only'>>();
        const spec = v.schema.openAPIV3Schema.properties?.spec;
        if (spec) walk(spec, 'spec', leaves);
        for (const [p, f] of leaves) {
          const byPath = fields.get(kind)!;
          const prior = byPath.get(p);
          if (!prior) byPath.set(p, { ...f, seen: [pair] });
          else {
            prior.seen.push(pair);
            if (f.enum) prior.enum = [...new Set([...(prior.enum ?? []), ...f.enum])];
            if (prior.type !== f.type) prior.type = `${prior.type}|${f.type}`;
          }
        }
      }
    }
    sources.push({ ref, commit, path, versions });
  }
  const kinds: Record<string, Record<string, Field>> = {};
  for (const kind of KINDS) {
    const out: Record<string, Field> = {};
    for (const [p, { seen, ...f }] of [...fields.get(kind)!].sort(([a], [b]) => (a < b ? -1 : 1))) {
      out[p] = { ...f, ...where(seen, allPairs[kind]!, labels) };
    }
    kinds[kind] = out;
  }
  // One line per source and per field, so that a regeneration diffs field by field.
  const j = (v: unknown) => JSON.stringify(v);
  const lines = [
    '{',
    ` "source": ${j('istio/istio manifests/charts/base/files/crd-all.gen.yaml (crds/ before 1.24), served versions')},`,
    ` "generatedBy": ${j('node --import tsx test/tools/istio-crd-fields.ts --git-dir <istio/istio> <refs…>')},`,
    ' "istio": [',
    sources.map((src) => `  ${j(src)}`).join(',\n'),
    ' ],',
    ' "kinds": {',
    Object.entries(kinds)
      .map(
        ([kind, byPath]) =>
          `  ${j(kind)}: {\n${Object.entries(byPath)
            .map(([p, f]) => `   ${j(p)}: ${j(f)}`)
            .join(',\n')}\n  }`,
      )
      .join(',\n'),
    ' }',
    '}',
  ];
  const file = join(import.meta.dirname, '..', 'fixtures', 'istio-crd-fields.json');
  writeFileSync(file, `${lines.join('\n')}\n`);
  process.stdout.write(`wrote ${file}\n`);
}

main(process.argv.slice(2));
