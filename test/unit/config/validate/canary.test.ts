/**
 * The Canary resource (weir.dev/v1alpha1): schema typing through `toResources` and the WEIR0020 rules of
 * `validate/canary.ts`, each with one passing and one failing input, checked at the marked line and column.
 */
import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../../../../src/config/diagnostics.ts';
import { parseText } from '../../../../src/config/load.ts';
import { toResources } from '../../../../src/config/resources.ts';
import { validateResource } from '../../../../src/config/validate/index.ts';
import { markedPosition } from '../../../helpers/validate.ts';

/** A complete, valid analysis; `analysis` replaces it when given. */
const ANALYSIS = `interval: 1m
threshold: 5
stepWeights: [5, 10, 25, 50]
metrics:
- name: request-success-rate
  thresholdRange: {min: 99}
- name: request-duration
  thresholdRange: {max: 500}
webhooks:
- name: load-test
  type: rollout
  url: http://loadtester.test/
  timeout: 5s`;

const TARGET = `targetRef: {kind: VirtualService, name: checkout-vs}
host: checkout.shop.svc.cluster.local
primarySubset: v1
canarySubset: v2`;

const indent = (text: string, n: number): string =>
  text
    .split('\n')
    .map((l) => (l === '' ? l : `${' '.repeat(n)}${l}`))
    .join('\n');

/** A Canary whose spec has `target` (the lines above `analysis`) and `analysis` (its body). */
function canary(opts: { target?: string; analysis?: string | null } = {}): string {
  const analysis = opts.analysis === undefined ? ANALYSIS : opts.analysis;
  return (
    'apiVersion: weir.dev/v1alpha1\nkind: Canary\nmetadata: {name: c, namespace: shop}\nspec:\n' +
    `${indent(opts.target ?? TARGET, 2)}\n` +
    (analysis === null ? '' : `  analysis:\n${indent(analysis, 4)}\n`)
  );
}

/** Types and validates `text` (one Canary): every diagnostic, schema and semantic. */
function check(text: string): Diagnostic[] {
  const docs = parseText({ file: 't.yaml', text });
  expect(docs.diagnostics, 'YAML must parse').toEqual([]);
  const typed = toResources(docs.documents);
  return [...typed.diagnostics, ...typed.resources.flatMap((r) => validateResource(r))];
}

function expectClean(text: string): void {
  expect(check(text).map((d) => `${d.code} ${d.field}: ${d.message}`)).toEqual([]);
}

function expectAt(text: string, message: string, code = 'WEIR0020'): Diagnostic {
  const out = check(text);
  const d = out.find((x) => x.message.includes(message));
  expect(d, `no ${JSON.stringify(message)} in ${JSON.stringify(out.map((x) => x.message))}`).toBeDefined();
  expect({ line: d!.position?.line, column: d!.position?.column }).toEqual(markedPosition(text));
  expect(d!.code).toBe(code);
  expect(d!.level).toBe('error');
  return d!;
}

const withAnalysis = (replace: string, by: string): string => ANALYSIS.replace(replace, by);
/** The analysis with one more metric (its lines, starting `- name:`). */
const withMetric = (lines: string): string => withAnalysis('webhooks:', `${lines}\nwebhooks:`);

describe('Canary resource', () => {
  it('accepts the complete example without any diagnostic', () => {
    expectClean(canary());
  });

  it('types the spec (Flagger field names and weir fields)', () => {
    const docs = parseText({
      file: 't.yaml',
      text: canary({ analysis: `${ANALYSIS}\ntolerance: 1.3\nalpha: 0.01\nonInconclusive: rollback\nsticky: false` }),
    });
    const r = toResources(docs.documents).resources[0]!;
    expect(r.kind).toBe('Canary');
    expect(r.namespace).toBe('shop');
    const spec = r.spec as { analysis: Record<string, unknown> };
    expect(spec.analysis).toMatchObject({ stepWeights: [5, 10, 25, 50], tolerance: 1.3, onInconclusive: 'rollback' });
  });

  it('refuses an unknown field (strict, like the Istio kinds), suggesting the field meant', () => {
    const text = canary({ analysis: `${ANALYSIS}\nstepWieghts: [1, 2] #^` });
    const d = expectAt(text, 'strict decoding error: unknown field "spec.analysis.stepWieghts"', 'WEIR0002');
    expect(d.field).toBe('spec.analysis.stepWieghts');
    expect(d.message).toContain('(did you mean "stepWeights"?)');
    expect(toResources(parseText({ file: 't.yaml', text }).documents).resources).toEqual([]);
  });

  it('with fieldValidation warn, warns about an unknown field and still validates the Canary', () => {
    const text = canary({ analysis: `${ANALYSIS}\nbogus: 1 #^` });
    const typed = toResources(parseText({ file: 't.yaml', text }).documents, { fieldValidation: 'warn' });
    expect(typed.diagnostics.map((d) => [d.level, d.code, d.field, d.message])).toEqual([
      ['warning', 'WEIR0002', 'spec.analysis.bogus', 'unknown field "spec.analysis.bogus"; the field is ignored'],
    ]);
    expect(typed.resources).toHaveLength(1);
    expect(typed.diagnostics[0]!.position).toMatchObject(markedPosition(text));
  });

  it('rejects a wrong type with IST0106', () => {
    expectAt(
      canary({ analysis: withAnalysis('threshold: 5', 'threshold: five #=') }),
      'expected an integer',
      'IST0106',
    );
  });

  it('rejects an unknown onInconclusive with IST0106', () => {
    expectAt(canary({ analysis: `${ANALYSIS}\nonInconclusive: retry #=` }), 'expected one of', 'IST0106');
  });

  it('rejects an unknown weir.dev apiVersion for Canary', () => {
    const text = 'apiVersion: weir.dev/v1 #=\nkind: Canary\nmetadata: {name: c}\nspec: {}\n';
    expectAt(text, 'unknown apiVersion "weir.dev/v1" for Canary', 'IST0106');
  });
});

describe('validateCanary (WEIR0020)', () => {
  type Rule = [name: string, good: string, bad: string, message: string, field: string];
  const a = (analysis: string) => canary({ analysis });
  const t = (target: string) => canary({ target });
  const rules: Rule[] = [
    [
      'interval is a valid duration',
      a(withAnalysis('interval: 1m', 'interval: 30s')),
      a(withAnalysis('interval: 1m', 'interval: 0s #=')),
      'duration must be greater than 1ms',
      'spec.analysis.interval',
    ],
    [
      'maxDuration is a valid duration',
      a(`${ANALYSIS}\nmaxDuration: 45m`),
      a(`${ANALYSIS}\nmaxDuration: soon #=`),
      'invalid duration "soon"',
      'spec.analysis.maxDuration',
    ],
    [
      'metric interval is a valid duration',
      a(withAnalysis('thresholdRange: {min: 99}', 'thresholdRange: {min: 99}\n  interval: 2m')),
      a(withAnalysis('thresholdRange: {min: 99}', 'thresholdRange: {min: 99}\n  interval: 1.5ns #=')),
      'duration must be greater than 1ms',
      'spec.analysis.metrics[0].interval',
    ],
    [
      'webhook timeout is a valid duration',
      a(withAnalysis('timeout: 5s', 'timeout: 500ms')),
      a(withAnalysis('timeout: 5s', 'timeout: 5x #=')),
      'invalid duration "5x"',
      'spec.analysis.webhooks[0].timeout',
    ],
    [
      'stepWeight xor stepWeights',
      a(withAnalysis('stepWeights: [5, 10, 25, 50]', 'stepWeight: 10\nmaxWeight: 50')),
      a(withAnalysis('stepWeights: [5, 10, 25, 50]', 'stepWeight: 10\nstepWeights: [5, 10] #^')),
      'set only one of stepWeight and stepWeights',
      'spec.analysis.stepWeights',
    ],
    [
      'some ladder or iterations',
      a(withAnalysis('stepWeights: [5, 10, 25, 50]', 'iterations: 10')),
      `${canary({ analysis: null })}  analysis: #^\n${indent(withAnalysis('stepWeights: [5, 10, 25, 50]\n', ''), 4)}\n`,
      'one of stepWeight, stepWeights',
      'spec.analysis',
    ],
    [
      'stepWeight in 1..100',
      a(withAnalysis('stepWeights: [5, 10, 25, 50]', 'stepWeight: 100')),
      a(withAnalysis('stepWeights: [5, 10, 25, 50]', 'stepWeight: 0 #=')),
      'stepWeight 0 is not in range 1..100',
      'spec.analysis.stepWeight',
    ],
    [
      'step weights in 0..100',
      a(withAnalysis('stepWeights: [5, 10, 25, 50]', 'stepWeights: [0, 100]')),
      a(withAnalysis('stepWeights: [5, 10, 25, 50]', 'stepWeights:\n- 5\n- 120 #-')),
      'step weight 120 is not in range 0..100',
      'spec.analysis.stepWeights[1]',
    ],
    [
      'step weights increase',
      a(withAnalysis('stepWeights: [5, 10, 25, 50]', 'stepWeights: [1, 2]')),
      a(withAnalysis('stepWeights: [5, 10, 25, 50]', 'stepWeights:\n- 10\n- 10 #-')),
      'stepWeights must increase (10 follows 10)',
      'spec.analysis.stepWeights[1]',
    ],
    [
      'maxWeight ≤ 100',
      a(withAnalysis('stepWeights: [5, 10, 25, 50]', 'stepWeight: 5\nmaxWeight: 100')),
      a(withAnalysis('stepWeights: [5, 10, 25, 50]', 'stepWeight: 5\nmaxWeight: 101 #=')),
      'maxWeight 101 is not in range 1..100',
      'spec.analysis.maxWeight',
    ],
    [
      'thresholdRange min ≤ max',
      a(withMetric('- name: my-metric\n  query: sum(x)\n  thresholdRange: {min: 1, max: 1}')),
      a(withMetric('- name: my-metric\n  query: sum(x)\n  thresholdRange: {min: 2, max: 1} #=')),
      'thresholdRange min 2 is greater than max 1',
      'spec.analysis.metrics[2].thresholdRange',
    ],
    [
      'metric names are known, or custom with a query',
      a(withMetric('- name: my-metric\n  templateRef: {name: t}')),
      a(withMetric('- name: my-metric #=')),
      'unknown metric "my-metric"',
      'spec.analysis.metrics[2].name',
    ],
    [
      'alpha in (0, 0.5)',
      a(`${ANALYSIS}\nalpha: 0.01`),
      a(`${ANALYSIS}\nalpha: 0.5 #=`),
      'alpha 0.5 must be in (0, 0.5)',
      'spec.analysis.alpha',
    ],
    [
      'tolerance ≥ 1',
      a(`${ANALYSIS}\ntolerance: 1`),
      a(`${ANALYSIS}\ntolerance: 0.9 #=`),
      'tolerance 0.9 must be at least 1',
      'spec.analysis.tolerance',
    ],
    [
      'tolerance below the margin',
      a(`${ANALYSIS}\ntolerance: 1.4\nmargin: 1.5`),
      a(`${ANALYSIS}\nmargin: 1.5\ntolerance: 1.6 #=`),
      'tolerance 1.6 must be at least 1 and below the not-worse margin 1.5',
      'spec.analysis.tolerance',
    ],
    [
      'margin > 1',
      a(`${ANALYSIS}\nmargin: 3`),
      a(`${ANALYSIS}\nmargin: 1 #=`),
      'margin 1 must be greater than 1',
      'spec.analysis.margin',
    ],
    [
      'the header-only match passes the VirtualService match rules',
      a(`${ANALYSIS}\nmatch: [{headers: {x-canary-user: {regex: "tr.*"}}}]`),
      a(`${ANALYSIS}\nmatch:\n- headers:\n    x-canary-user:\n      regex: "([a-" #=`),
      'error parsing regexp',
      'spec.analysis.match[0].headers["x-canary-user"].regex',
    ],
    [
      'stepWeight ≤ maxWeight',
      a(ANALYSIS.replace('stepWeights: [5, 10, 25, 50]', 'stepWeight: 10\nmaxWeight: 50')),
      a(ANALYSIS.replace('stepWeights: [5, 10, 25, 50]', 'maxWeight: 50\nstepWeight: 60 #=')),
      'stepWeight 60 is greater than maxWeight 50',
      'spec.analysis.stepWeight',
    ],
    [
      'webhook names are unique',
      a(withAnalysis('timeout: 5s', 'timeout: 5s\n- {name: other, type: event, url: "http://h.test/"}')),
      a(withAnalysis('timeout: 5s', 'timeout: 5s\n- {name: load-test, type: event, url: "http://h.test/"} #=')),
      'duplicate webhook name "load-test"',
      'spec.analysis.webhooks[1].name',
    ],
    [
      'minRequestsPerStep ≥ 0',
      a(`${ANALYSIS}\nminRequestsPerStep: 0\npromoteOnSLO: false\nrollback: stepped`),
      a(`${ANALYSIS}\nminRequestsPerStep: -1 #=`),
      'minRequestsPerStep -1 must be 0 or more',
      'spec.analysis.minRequestsPerStep',
    ],
    [
      'primary and canary subsets differ',
      t(TARGET.replace('canarySubset: v2', 'canarySubset: v3')),
      t(TARGET.replace('canarySubset: v2', 'canarySubset: v1 #=')),
      'canarySubset must differ from primarySubset',
      'spec.canarySubset',
    ],
    [
      'webhook types are known',
      a(withAnalysis('type: rollout', 'type: confirm-promotion')),
      a(withAnalysis('type: rollout', 'type: pre-promotion #=')),
      'unknown webhook type "pre-promotion"',
      'spec.analysis.webhooks[0].type',
    ],
    [
      'webhook retries are 0 or more',
      a(withAnalysis('timeout: 5s', 'timeout: 5s\n  retries: 2\n  muteAlert: true')),
      a(withAnalysis('timeout: 5s', 'timeout: 5s\n  retries: -1 #=')),
      'webhook retries -1 must be 0 or more',
      'spec.analysis.webhooks[0].retries',
    ],
    [
      'webhook URLs are absolute',
      a(withAnalysis('url: http://loadtester.test/', 'url: https://loadtester.test/hook')),
      a(withAnalysis('url: http://loadtester.test/', 'url: /hook #=')),
      'webhook url "/hook" is not an absolute URL',
      'spec.analysis.webhooks[0].url',
    ],
    [
      'webhook URLs are http(s)',
      a(withAnalysis('url: http://loadtester.test/', 'url: http://[::1]:8080/')),
      a(withAnalysis('url: http://loadtester.test/', 'url: ftp://loadtester.test/ #=')),
      'must be http or https',
      'spec.analysis.webhooks[0].url',
    ],
    [
      'one target',
      t(TARGET.replace('targetRef: {kind: VirtualService, name: checkout-vs}', 'virtualService: {name: checkout-vs}')),
      t(`${TARGET}\nvirtualService: {name: checkout-vs} #^`),
      'set only one of targetRef and virtualService',
      'spec.virtualService',
    ],
    [
      'the target is a VirtualService',
      t(TARGET.replace('{kind: VirtualService, name: checkout-vs}', '{name: checkout-vs}')),
      t(
        TARGET.replace(
          'targetRef: {kind: VirtualService, name: checkout-vs}',
          'targetRef:\n  kind: Deployment #=\n  name: x',
        ),
      ),
      'targetRef kind must be VirtualService',
      'spec.targetRef.kind',
    ],
  ];

  it.each(rules)('%s', (_name, good, bad, message, field) => {
    expectClean(good);
    expect(expectAt(bad, message).field).toBe(field);
  });

  it('reports the field path', () => {
    const d = expectAt(a(withAnalysis('url: http://loadtester.test/', 'url: /hook #=')), 'not an absolute URL');
    expect(d.field).toBe('spec.analysis.webhooks[0].url');
  });
});
