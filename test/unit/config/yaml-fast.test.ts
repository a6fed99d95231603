/**
 * The fast YAML path (js-yaml values, lazy positions) against the slow path (the `yaml` library's trees): whenever
 * the fast path answers, its documents — values, indexes, start positions and located field positions — are the
 * slow path's. Inputs: every YAML/JSON file of the repository, generated documents full of YAML 1.1 scalar traps,
 * and random mutations of real manifests (which the fast path must either read identically or hand back).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseText, parseTextFast } from '../../../src/config/load.ts';
import { splitDocuments } from '../../../src/config/yaml-fast.ts';

const ROOT = join(import.meta.dirname, '../../..');
const MANIFESTS = [
  'examples/01-composite-routing/virtual-service.yaml',
  'examples/01-composite-routing/service.yaml',
  'examples/04-session-affinity/destination-rule.yaml',
  'examples/07-resilience/virtual-service.yaml',
  'examples/08-rollout/canary.yaml',
  'test/fixtures/seed/00-mesh.yaml',
  'test/fixtures/seed/02-composite-routing.yaml',
].map((f) => readFileSync(join(ROOT, f), 'utf8'));

const PATHS: (string | number)[][] = [
  [],
  ['kind'],
  ['metadata', 'name'],
  ['spec'],
  ['spec', 'http', 0],
  ['spec', 'http', 0, 'match', 0, 'headers'],
  ['spec', 'http', 1, 'route', 1, 'weight'],
  ['spec', 'subsets', 1, 'labels'],
  ['a', 0, 'b'],
];

/** Everything a caller can observe of a parse. */
function observe(r: ReturnType<typeof parseText>): unknown {
  return {
    documents: r.documents.map((d) => ({
      index: d.index,
      value: d.value,
      start: d.start,
      at: PATHS.map((p) => [d.locate(p), d.locate(p, { key: true })]),
    })),
    diagnostics: r.diagnostics,
  };
}

function sameAsSlow(text: string): boolean {
  const fast = parseTextFast({ file: 'f.yaml', text });
  if (fast === null) return false;
  expect(observe(fast)).toEqual(observe(parseText({ file: 'f.yaml', text }, { fast: false })));
  return true;
}

/** Plain scalars whose type YAML 1.1 decides (kubectl's go-yaml reads them the same way). */
const TRAPS = [
  'yes',
  'No',
  'ON',
  'off',
  'y',
  'n',
  'Y',
  'true',
  'False',
  '~',
  'null',
  'NULL',
  '',
  '0777',
  '0o17',
  '08',
  '1_000',
  '0b101',
  '-0x1f',
  '0x_1F',
  '1:20',
  '-1:20:30',
  '1:20.5',
  '.5',
  '1.',
  '1e3',
  '-1.5E-3',
  '.inf',
  '-.Inf',
  '.nan',
  '2001-12-14',
  '2001-12-14t21:59:43.10-05:00',
  '.',
  '-',
  '+',
  '1.2.3',
  'v1',
  '*.example.com',
  'a: b',
  '#x',
  'x #y',
  "it's",
  '"q"',
  '100%',
  '[1]',
  '{a}',
  '@at',
  '`tick',
  '|',
  '>',
  '? q',
  '%',
  '&x',
  'é',
  '\t',
  ' lead',
  'trail ',
];

describe('fast YAML path', () => {
  it('reads every YAML and JSON file of the repository as the slow path does', async () => {
    const { execSync } = await import('node:child_process');
    const files = execSync("git ls-files '*.yaml' '*.yml' '*.json'", { cwd: ROOT }).toString().trim().split('\n');
    let fast = 0;
    for (const f of files) if (sameAsSlow(readFileSync(join(ROOT, f), 'utf8'))) fast++;
    // The manifests are all plain YAML: most of them must really take the fast path.
    expect(fast).toBeGreaterThan(files.length / 2);
  });

  it('resolves YAML 1.1 scalars exactly as the slow path, in every quoting style', () => {
    let fast = 0;
    for (const t of TRAPS) {
      for (const text of [
        `k: ${t}\n`,
        `- ${t}\n- [${t}]\n`,
        `${t}: v\n`,
        `k: '${t.replaceAll("'", "''")}'\n`,
        `k: "${t.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"\n`,
        `k: |\n  ${t}\n`,
        `k: >-\n  ${t}\n  ${t}\n`,
        `{k: ${t}}\n`,
      ]) {
        if (sameAsSlow(text)) fast++;
      }
    }
    expect(fast).toBeGreaterThan(TRAPS.length * 4);
  });

  it('splits streams into the slow path’s documents (markers, comments, empty documents, `...`)', () => {
    const streams = [
      'a: 1\n---\n',
      '---\na: 1',
      '# c\n---\na: 1\n',
      'a: 1\n---\n# only comment\n---\nb: 2\n',
      '',
      '# c\n',
      'a: 1\n...\n',
      'a: 1\n...\n---\nb: 1\n',
      '--- \na: 1\n--- # x\nb: 2\n',
      'a: |\n  x\n---\nb: 2\r\n',
      '\n\n---\n\n\nkind: X\n  # indented comment\n',
    ];
    for (const s of streams) expect(sameAsSlow(s), JSON.stringify(s)).toBe(true);
    expect(splitDocuments('%YAML 1.1\n---\na: 1\n')).toBeNull();
    expect(splitDocuments('--- {a: 1}\n')).toBeNull();
    expect(splitDocuments('a: 1\n...\nb: 2\n')).toBeNull();
  });

  it('hands back what it does not model: tags, merge keys, aliases, duplicate keys, errors, deep nesting', () => {
    for (const text of [
      'a: !!str 1\n',
      'base: &b {x: 1}\nc:\n  <<: *b\n',
      'a: &x 1\nb: *x\n',
      'a: 1\na: 2\n',
      'a: [1, 2\n',
      '? [1, 2]\n: v\n',
      `${'['.repeat(300)}${']'.repeat(300)}\n`,
    ]) {
      expect(parseTextFast({ file: 'f.yaml', text }), text).toBeNull();
    }
  });

  it('generated documents: the same values, positions and diagnostics', () => {
    const scalar = fc.oneof(fc.constantFrom(...TRAPS), fc.string({ maxLength: 6 }), fc.integer(), fc.double());
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, scalar, tie('list'), tie('map')),
      list: fc.array(tie('node'), { maxLength: 4 }),
      map: fc.dictionary(fc.oneof(fc.constantFrom(...TRAPS), fc.string({ maxLength: 5 })), tie('node'), {
        maxKeys: 4,
      }),
    })).node;
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 3 }), fc.boolean(), (docs, flow) => {
        const text = docs
          .map((d) => stringify(d, { version: '1.1', collectionStyle: flow ? 'flow' : 'any' }))
          .join('---\n');
        sameAsSlow(text);
      }),
      { seed: 20261208, numRuns: 400 },
    );
  });

  it('mutated manifests: whenever the fast path answers, it answers as the slow path', () => {
    const alphabet = [' ', '\n', '-', ':', '#', '"', "'", '[', ']', '{', '}', ',', '|', '>', '\t', 'x', '1', '.'];
    fc.assert(
      fc.property(
        fc.nat(MANIFESTS.length - 1),
        fc.array(fc.tuple(fc.nat(), fc.nat(2), fc.constantFrom(...alphabet)), { minLength: 1, maxLength: 4 }),
        (which, edits) => {
          let text = MANIFESTS[which]!;
          for (const [at, op, ch] of edits) {
            const i = at % (text.length + 1);
            if (op === 0) text = text.slice(0, i) + ch + text.slice(i);
            else if (op === 1) text = text.slice(0, i) + text.slice(i + 1);
            else text = text.slice(0, i) + ch + text.slice(i + 1);
          }
          sameAsSlow(text);
        },
      ),
      { seed: Number(process.env.SEED ?? 8122026), numRuns: Number(process.env.RUNS ?? 3000) },
    );
  });
});
