/**
 * deploy/grafana/weir-canary.json: every query parses (PromQL sanity check) and names only metrics and labels that
 * weir emits, taken from the metrics module's catalog.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { METRIC_CATALOG } from '../../../src/telemetry/metrics.ts';
import { checkPromQL, type MetricLabels } from './promql-check.ts';

const DASHBOARD = join(import.meta.dirname, '..', '..', '..', 'deploy', 'grafana', 'weir-canary.json');

/** Queryable series names with their labels: histograms expose _bucket (with le), _sum and _count. */
function emitted(): MetricLabels {
  const out = new Map<string, ReadonlySet<string>>();
  for (const m of METRIC_CATALOG) {
    const labels = new Set(m.labels);
    if (m.type === 'histogram') {
      out.set(`${m.name}_bucket`, new Set([...labels, 'le']));
      out.set(`${m.name}_sum`, labels);
      out.set(`${m.name}_count`, labels);
    } else out.set(m.name, labels);
  }
  return out;
}

interface Panel {
  title: string;
  type: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}

function panelsOf(list: Panel[]): Panel[] {
  return list.flatMap((p) => [p, ...panelsOf(p.panels ?? [])]);
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; query?: string | { query: string } }[] };
};
const metrics = emitted();

describe('deploy/grafana/weir-canary.json', () => {
  const panels = panelsOf(dashboard.panels).filter((p) => p.type !== 'row');
  const queries = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

  it('has the canary panels, each with at least one query', () => {
    expect(dashboard.uid).toBe('weir-canary');
    const titles = panels.map((p) => p.title.toLowerCase());
    for (const want of ['request rate', 'success rate', 'p50 / p90 / p99', 'response flags', 'mirror'])
      expect(
        titles.some((t) => t.includes(want)),
        want,
      ).toBe(true);
    for (const p of panels) expect(p.targets?.length ?? 0, p.title).toBeGreaterThan(0);
  });

  it.each(queries.map((q) => [q.panel, q.expr]))('%s: %s', (_panel, expr) => {
    expect(checkPromQL(expr, metrics)).toEqual([]);
  });

  it('template variable queries name only emitted metrics and labels', () => {
    for (const v of dashboard.templating.list) {
      if (v.query === undefined || typeof v.query === 'string') continue;
      expect(checkPromQL(v.query.query, metrics, true), v.name).toEqual([]);
    }
  });

  it('the latency panels read the Istio duration histogram and compare versions', () => {
    const latency = queries.filter((q) => q.expr.includes('istio_request_duration_milliseconds_bucket'));
    expect(latency.map((q) => q.expr.match(/histogram_quantile\((0\.\d+)/)?.[1])).toEqual(['0.50', '0.90', '0.99']);
    for (const q of latency) expect(q.expr).toMatch(/by \(le, destination_version\)/);
  });
});

describe('the PromQL sanity check itself', () => {
  const ok = 'sum by (destination_version) (rate(istio_requests_total{response_code=~"5.."}[1m]))';
  it('accepts a sound query and rejects broken ones', () => {
    expect(checkPromQL(ok, metrics)).toEqual([]);
    expect(checkPromQL(ok.slice(0, -1), metrics)).not.toEqual([]); // unbalanced
    expect(checkPromQL(ok.replace('rate(', 'rait('), metrics)).toEqual(['unknown function "rait"']);
    expect(checkPromQL(ok.replace('istio_requests_total', 'istio_requests'), metrics)).toContain(
      'unknown metric "istio_requests"',
    );
    expect(checkPromQL(ok.replace('response_code=~', 'status=~'), metrics)).toContain(
      'label "status" is not a label of istio_requests_total',
    );
    expect(checkPromQL(ok.replace('by (destination_version)', 'by (pod)'), metrics)).toContain(
      'label "pod" is not emitted by the metrics named',
    );
    expect(checkPromQL('rate(istio_requests_total{reporter="source}[1m])', metrics)[0]).toMatch(/unterminated/);
    expect(checkPromQL('rate(istio_requests_total[1x])', metrics)[0]).toMatch(/bad range/);
    expect(
      checkPromQL('histogram_quantile(0.99, sum by (le) (rate(istio_request_bytes_bucket[5m])))', metrics),
    ).toEqual([]);
  });
});
