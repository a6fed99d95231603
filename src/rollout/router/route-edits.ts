/**
 * The edits the file router makes inside one VirtualService route (`file-router.ts`), on the `yaml` Document through
 * the layout-preserving {@link SourceEditor}: the weights of the rolled-out routes, weir's mirror, and the header-only
 * match route built from the first rolled-out route.
 */
import { type Document, isMap, isNode, isScalar, type Node, visit, type YAMLMap, type YAMLSeq } from 'yaml';
import { CANARY_MATCH_ROUTE } from '../../config/weir/canary-routes.ts';
import { findPair, type SourceEditor } from './yaml-edit.ts';

/** Route fields the match route copies from the first rolled-out route. */
export const COPIED_ROUTE_FIELDS = ['timeout', 'retries', 'headers', 'rewrite', 'corsPolicy', 'fault'] as const;

/** One `route[]` destination of an `http[]` route, as the router sees it. */
export interface DestView {
  node: YAMLMap;
  role: 'primary' | 'canary' | 'other';
  host: string;
  subset: string | null;
  weight: number | undefined;
}

/** One `http[]` route as the router sees it (`role` as in the router's RouteSummary). */
export interface RouteView {
  index: number;
  node: YAMLMap;
  value: Record<string, unknown>;
  name: string | null;
  role: 'rolled-out' | 'canary-match' | 'other';
  dests: DestView[];
}

/** The primary and canary subset names. */
export interface Subsets {
  readonly primarySubset: string;
  readonly canarySubset: string;
}

/**
 * Sets a rolled-out route to primary `100 − w` / canary `w` (percent): a 0 % destination is removed, a missing one is
 * a copy of the other (port, headers… kept) with the subset changed, a lone destination keeps weight 100 only if it
 * had a weight.
 */
export function setWeights(ed: SourceEditor, r: RouteView, w: number, subsets: Subsets): void {
  const seq = r.node.get('route', true) as unknown as YAMLSeq;
  const primary = r.dests.find((d) => d.role === 'primary');
  const canary = r.dests.find((d) => d.role === 'canary');
  const wantPrimary = w < 100;
  const wantCanary = w > 0;
  const split = wantPrimary && wantCanary;
  const weightOf = (role: 'primary' | 'canary') => (split ? (role === 'primary' ? 100 - w : w) : 100);

  const setWeight = (d: DestView, role: 'primary' | 'canary') => {
    const pair = findPair(d.node, 'weight');
    if (pair && isScalar(pair.value)) ed.setScalar(pair.value, weightOf(role));
    else if (split) ed.insertPair(d.node, 'weight', weightOf(role));
  };
  const cloneAs = (from: DestView, role: 'primary' | 'canary'): YAMLMap => {
    const c = cloneWithoutComments(from.node);
    c.setIn(['destination', 'subset'], role === 'primary' ? subsets.primarySubset : subsets.canarySubset);
    if (split || c.has('weight')) c.set('weight', weightOf(role));
    return c;
  };

  // Weights of the destinations that stay first (a `weight:` added to the last item ends where an item inserted
  // after it begins: edits at one position apply in call order), then insertions (positions are taken from the
  // items as they are), then deletions.
  if (primary && wantPrimary) setWeight(primary, 'primary');
  if (canary && wantCanary) setWeight(canary, 'canary');
  if (wantPrimary && !primary && canary) ed.insertItem(seq, cloneAs(canary, 'primary'), canary.node);
  if (wantCanary && !canary && primary) {
    const next = (seq.items as Node[])[(seq.items as Node[]).indexOf(primary.node) + 1] ?? null;
    ed.insertItem(seq, cloneAs(primary, 'canary'), next);
  }
  if (primary && !wantPrimary) ed.deleteItem(seq, primary.node);
  if (canary && !wantCanary) ed.deleteItem(seq, canary.node);
}

/** weir's mirror on a rolled-out route: `mirror` to the canary and `mirrorPercentage`, or removed (only if weir's). */
export function setMirror(
  ed: SourceEditor,
  doc: Document.Parsed,
  r: RouteView,
  hostAsWritten: string,
  pct: number | null,
  managed: Set<string>,
  canarySubset: string,
): void {
  const weirs = managed.has('mirror');
  if (pct === null) {
    if (!weirs) return;
    ed.deletePair(r.node, 'mirror');
    ed.deletePair(r.node, 'mirrorPercentage');
    return;
  }
  const mirror = doc.createNode({ host: hostAsWritten, subset: canarySubset });
  if (r.node.has('mirror')) ed.setValue(r.node, 'mirror', mirror);
  else ed.insertPair(r.node, 'mirror', mirror);
  const current = r.node.get('mirrorPercentage', true);
  const valuePair = isMap(current) ? findPair(current, 'value') : undefined;
  if (valuePair && isScalar(valuePair.value) && current && isMap(current) && current.items.length === 1) {
    ed.setScalar(valuePair.value, pct);
  } else if (current !== undefined) ed.setValue(r.node, 'mirrorPercentage', doc.createNode({ value: pct }));
  else ed.insertPair(r.node, 'mirrorPercentage', doc.createNode({ value: pct }));
  managed.add('mirror');
}

/**
 * The header-only route {@link CANARY_MATCH_ROUTE}: `match`, one destination (the template's, with the canary subset
 * and no weight) and the first rolled-out route's {@link COPIED_ROUTE_FIELDS}.
 */
export function matchRoute(
  doc: Document.Parsed,
  first: RouteView,
  template: DestView,
  match: readonly unknown[],
  canarySubset: string,
): YAMLMap {
  const dest = cloneWithoutComments(template.node);
  dest.setIn(['destination', 'subset'], canarySubset);
  dest.delete('weight');
  const route = doc.createNode({}) as YAMLMap;
  route.set('name', CANARY_MATCH_ROUTE);
  route.set('match', doc.createNode(match));
  const seq = doc.createNode([]) as YAMLSeq;
  seq.items.push(dest);
  route.set('route', seq);
  for (const key of COPIED_ROUTE_FIELDS) {
    const v = first.node.get(key, true) as Node | undefined;
    if (v === undefined) continue;
    route.set(key, isNode(v) ? cloneWithoutComments(v) : doc.createNode(v));
  }
  return route;
}

/** A deep copy of a node without its comments and blank lines (they describe the original, not the copy). */
export function cloneWithoutComments<T extends Node>(node: T): T {
  const c = node.clone() as T;
  visit(c, {
    Node(_key, n) {
      n.commentBefore = undefined;
      n.comment = undefined;
      n.spaceBefore = undefined;
    },
  });
  c.commentBefore = undefined;
  c.comment = undefined;
  c.spaceBefore = undefined;
  return c;
}
