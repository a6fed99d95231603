/**
 * A small PromQL sanity check for dashboard queries (not a parser): brackets balance, strings close, every
 * `name(` is a known function or aggregation, every metric is one weir emits, every label in a matcher or a
 * `by`/`without`/`on`/`ignoring` list is one of the labels of the metrics the query names. Grafana variables
 * (`$var`, `${var}`, `$__rate_interval`) are replaced by plausible values first.
 */

/** PromQL functions (prometheus/prometheus `promql/parser/functions.go`, the common subset). */
const FUNCTIONS = new Set([
  'abs',
  'absent',
  'absent_over_time',
  'avg_over_time',
  'ceil',
  'changes',
  'clamp',
  'clamp_max',
  'clamp_min',
  'count_over_time',
  'delta',
  'deriv',
  'exp',
  'floor',
  'histogram_quantile',
  'idelta',
  'increase',
  'irate',
  'label_join',
  'label_replace',
  'last_over_time',
  'ln',
  'max_over_time',
  'min_over_time',
  'quantile_over_time',
  'rate',
  'resets',
  'round',
  'scalar',
  'sort',
  'sort_desc',
  'sqrt',
  'sum_over_time',
  'time',
  'timestamp',
  'vector',
]);
const AGGREGATIONS = new Set([
  'sum',
  'avg',
  'min',
  'max',
  'count',
  'group',
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
  'count_values',
]);
const LABEL_LIST_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset']);

/** What the check knows: metric name (as queried, e.g. `x_bucket`) → its label names. */
export type MetricLabels = ReadonlyMap<string, ReadonlySet<string>>;

type Token = { kind: 'ident' | 'string' | 'number' | 'op' | 'open' | 'close' | 'duration'; text: string };

function substituteGrafanaVariables(q: string): string {
  return q
    .replace(/\$__rate_interval|\$__interval|\$\{__rate_interval\}|\$\{__interval\}/g, '1m')
    .replace(/\$\{[a-zA-Z_][a-zA-Z0-9_]*(?::[a-z]+)?\}|\$[a-zA-Z_][a-zA-Z0-9_]*/g, 'x');
}

function tokenize(q: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < q.length) {
    const c = q[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < q.length && q[j] !== c) j += q[j] === '\\' && c !== '`' ? 2 : 1;
      if (j >= q.length) throw new Error(`unterminated string at ${i}`);
      out.push({ kind: 'string', text: q.slice(i + 1, j) });
      i = j + 1;
    } else if (c === '[') {
      const j = q.indexOf(']', i);
      if (j < 0) throw new Error(`unbalanced [ at ${i}`);
      const inner = q.slice(i + 1, j);
      if (!/^\s*\d+(ms|s|m|h|d|w|y)(\d+(ms|s|m|h|d|w|y))*(\s*:\s*(\d+(ms|s|m|h|d|w|y))?)?\s*$/.test(inner))
        throw new Error(`bad range "[${inner}]"`);
      out.push({ kind: 'duration', text: inner });
      i = j + 1;
    } else if ('({'.includes(c)) {
      out.push({ kind: 'open', text: c });
      i++;
    } else if (')}]'.includes(c)) {
      out.push({ kind: 'close', text: c });
      i++;
    } else if (/[0-9.]/.test(c)) {
      const m = /^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/.exec(q.slice(i))!;
      out.push({ kind: 'number', text: m[0] });
      i += m[0].length;
    } else if (/[a-zA-Z_:]/.test(c)) {
      const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(q.slice(i))!;
      out.push({ kind: 'ident', text: m[0] });
      i += m[0].length;
    } else {
      const m = /^(=~|!~|!=|==|>=|<=|[-+*/%^=<>,])/.exec(q.slice(i));
      if (!m) throw new Error(`unexpected "${c}" at ${i}`);
      out.push({ kind: 'op', text: m[0] });
      i += m[0].length;
    }
  }
  return out;
}

/**
 * Checks one query; returns the problems found (empty when the query looks sound). `allowLabelValues` accepts
 * Grafana's `label_values(selector, label)` (template variables).
 */
export function checkPromQL(query: string, metrics: MetricLabels, allowLabelValues = false): string[] {
  const problems: string[] = [];
  let tokens: Token[];
  try {
    tokens = tokenize(substituteGrafanaVariables(query));
  } catch (e) {
    return [(e as Error).message];
  }
  // Balanced () and {}.
  const stack: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'open') stack.push(t.text);
    else if (t.kind === 'close') {
      const open = stack.pop();
      if ((open === '(' && t.text !== ')') || (open === '{' && t.text !== '}') || open === undefined)
        problems.push(`unbalanced "${t.text}"`);
    }
  }
  if (stack.length > 0) problems.push(`unclosed "${stack.join('')}"`);
  if (problems.length > 0) return problems;

  // Grafana's label_values(selector, label): the last argument is a label, not a metric.
  const skip = new Set<number>();
  if (allowLabelValues) {
    tokens.forEach((t, i) => {
      if (t.kind !== 'ident' || t.text !== 'label_values' || tokens[i + 1]?.text !== '(') return;
      let depth = 0;
      for (let j = i + 1; j < tokens.length; j++) {
        if (tokens[j]!.kind === 'open') depth++;
        else if (tokens[j]!.kind === 'close' && --depth === 0) {
          if (tokens[j - 1]?.kind === 'ident' && tokens[j - 2]?.text === ',') skip.add(j - 1);
          return;
        }
      }
    });
  }
  let named = 0;
  const allLabels = new Set<string>();
  let depthBrace = 0;
  let currentMetric: string | null = null;
  let labelListDepth = -1;
  let parenDepth = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const next = tokens[i + 1];
    if (t.kind === 'open' && t.text === '{') depthBrace++;
    if (t.kind === 'close' && t.text === '}') {
      depthBrace--;
      currentMetric = null;
    }
    if (t.kind === 'open' && t.text === '(') parenDepth++;
    if (t.kind === 'close' && t.text === ')') {
      if (parenDepth === labelListDepth) labelListDepth = -1;
      parenDepth--;
    }
    if (t.kind !== 'ident') continue;
    if (depthBrace > 0) {
      // A label matcher: name op "value".
      const op = next?.kind === 'op' ? next.text : '';
      if (!['=', '!=', '=~', '!~'].includes(op) || tokens[i + 2]?.kind !== 'string') {
        problems.push(`bad matcher after "${t.text}"`);
        continue;
      }
      const known = currentMetric ? metrics.get(currentMetric) : null;
      if (!known) problems.push(`label matcher "${t.text}" without a metric name`);
      else if (!known.has(t.text)) problems.push(`label "${t.text}" is not a label of ${currentMetric}`);
      i += 2;
      continue;
    }
    // Label lists are checked below, once every metric of the query is known.
    if (labelListDepth >= 0 || skip.has(i)) continue;
    if (next?.kind === 'open' && next.text === '(') {
      if (LABEL_LIST_KEYWORDS.has(t.text)) {
        labelListDepth = parenDepth + 1;
        continue;
      }
      if (t.text === 'label_values' && allowLabelValues) continue;
      if (!FUNCTIONS.has(t.text) && !AGGREGATIONS.has(t.text)) problems.push(`unknown function "${t.text}"`);
      continue;
    }
    if (KEYWORDS.has(t.text)) continue;
    // `sum by (l) (expr)`: the aggregation's clause comes first.
    if (AGGREGATIONS.has(t.text) && next?.kind === 'ident' && (next.text === 'by' || next.text === 'without')) continue;
    if (LABEL_LIST_KEYWORDS.has(t.text)) {
      problems.push(`"${t.text}" without a label list`);
      continue;
    }
    // A metric name.
    named++;
    const labels = metrics.get(t.text);
    if (!labels) problems.push(`unknown metric "${t.text}"`);
    else for (const l of labels) allLabels.add(l);
    currentMetric = next?.kind === 'open' && next.text === '{' ? t.text : null;
  }
  if (named === 0) problems.push('names no metric');

  // Labels in by/without/on/ignoring lists, and label_values(…, label).
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const isList = t.kind === 'ident' && LABEL_LIST_KEYWORDS.has(t.text) && tokens[i + 1]?.text === '(';
    const isLabelValues = allowLabelValues && t.kind === 'ident' && t.text === 'label_values';
    if (!isList && !isLabelValues) continue;
    let j = i + 2;
    let depth = 1;
    const idents: Token[] = [];
    for (; j < tokens.length && depth > 0; j++) {
      const u = tokens[j]!;
      if (u.kind === 'open') depth++;
      else if (u.kind === 'close') depth--;
      else if (depth === 1 && u.kind === 'ident') idents.push(u);
    }
    const labels = isLabelValues ? idents.slice(-1) : idents;
    for (const l of labels)
      if (!allLabels.has(l.text)) problems.push(`label "${l.text}" is not emitted by the metrics named`);
  }
  return problems;
}
