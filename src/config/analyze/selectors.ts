/**
 * Label selectors as the Gateway analyzers see them: Kubernetes `labels.SelectorFromSet(m).String()` (`k=v` pairs
 * sorted by key, joined with `,`; the empty selector is `""` and matches everything), and the workloads a selector
 * can stand for.
 */
import { labelsMatch, type Registry } from '../registry.ts';

/** A label set that would run a proxy: a Pod, or the pod template of a Deployment, StatefulSet or DaemonSet. */
export interface PodLike {
  namespace: string;
  labels: Readonly<Record<string, string>>;
}

/** `labels.SelectorFromSet(selector).String()`: `app=x,istio=ingressgateway`; `""` for none. */
export function selectorString(selector: Readonly<Record<string, string>> | undefined): string {
  if (!selector) return '';
  return Object.keys(selector)
    .sort()
    .map((k) => `${k}=${selector[k]}`)
    .join(',');
}

/** Istio's `parseSelectorFromString`: the `k=v` pairs of a selector string (pairs without exactly one `=` dropped). */
export function parseSelectorString(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of s.split(',')) {
    const kv = pair.split('=');
    if (kv.length === 2) out[kv[0]!] = kv[1]!;
  }
  return out;
}

/**
 * The pods of the input: Pods, and the pod templates of Deployments, StatefulSets and DaemonSets (weir reads
 * manifests, where a gateway's pods are usually a Deployment). Istio's analyzers see Pods only.
 */
export function podsOf(registry: Registry): PodLike[] {
  return registry.workloads.filter(
    (w) => w.kind === 'Pod' || w.kind === 'Deployment' || w.kind === 'StatefulSet' || w.kind === 'DaemonSet',
  );
}

/** True when `selector` (empty = everything) selects `labels`. */
export function selects(
  selector: Readonly<Record<string, string>> | undefined,
  labels: Readonly<Record<string, string>>,
): boolean {
  return labelsMatch(selector ?? {}, labels);
}
