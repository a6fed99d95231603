/**
 * IST0162: a Gateway server listens on a port that no Service of the gateway's pods exposes. istio/istio
 * `pkg/config/analysis/analyzers/gateway/gateway.go` (`IngressGatewayPortAnalyzer`):
 *
 * - the gateway's pods are the pods its `selector` matches (empty selector: every pod);
 * - their Services are the Kubernetes Services in a pod's namespace whose selector matches the pod (a Service
 *   without a selector matches every pod, as `labels.SelectorFromSet` does);
 * - a server port is exposed when it equals the `port` or the numeric `targetPort` of one of those Services' TCP
 *   ports (a named `targetPort` counts as none).
 *
 * Where weir differs, because it reads manifests and not a cluster: a port without `protocol` is TCP (the API
 * server's default); pods are Pods and the pod templates of Deployments, StatefulSets and DaemonSets; and when the
 * input has no pod the selector matches, each Service whose selector the Gateway's selector matches stands for
 * pods labelled with that Service's selector. With neither, nothing is reported (Istio reports IST0101 "Referenced
 * selector not found", which for manifests without the gateway's Deployment would always fire).
 */
import type { Resource } from '../resources.ts';
import type { Analyzer } from './context.ts';
import { type PodLike, podsOf, selectorString, selects } from './selectors.ts';

type K8sService = Resource<'Service'>;

/** Go's `intstr.IntValue()`: the number, or a numeric string parsed, else 0. */
function intValue(v: number | string | undefined): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^[+-]?\d+$/.test(v)) return Number(v);
  return 0;
}

/** The `port`s and numeric `targetPort`s of the TCP ports of the Services that select `pods`. */
function exposedPorts(pods: readonly PodLike[], services: readonly K8sService[]): Set<number> {
  const exposed = new Set<number>();
  for (const pod of pods) {
    for (const svc of services) {
      if (svc.namespace !== pod.namespace || !selects(svc.spec.selector, pod.labels)) continue;
      for (const port of svc.spec.ports ?? []) {
        if ((port.protocol ?? 'TCP') !== 'TCP') continue;
        const target = intValue(port.targetPort);
        if (target !== 0) exposed.add(target);
        exposed.add(port.port);
      }
    }
  }
  return exposed;
}

/** `gateway.IngressGatewayPortAnalyzer`: IST0162. */
export const ingressGatewayPortAnalyzer: Analyzer = {
  name: 'gateway.IngressGatewayPortAnalyzer',
  codes: ['IST0162'],
  run(ctx) {
    const services = ctx.of('Service');
    const allPods = podsOf(ctx.registry);
    for (const gw of ctx.of('Gateway')) {
      let pods: PodLike[] = allPods.filter((p) => selects(gw.spec.selector, p.labels));
      if (pods.length === 0) {
        pods = services
          .filter((s) => Object.keys(s.spec.selector ?? {}).length > 0 && selects(gw.spec.selector, s.spec.selector!))
          .map((s) => ({ namespace: s.namespace, labels: s.spec.selector! }));
      }
      if (pods.length === 0) continue;
      const exposed = exposedPorts(pods, services);
      (gw.spec.servers ?? []).forEach((server, i) => {
        const n = server.port?.number;
        if (n === undefined || exposed.has(n)) return;
        ctx.report(
          gw,
          ['spec', 'servers', i, 'port', 'number'],
          'IST0162',
          `The gateway is listening on a target port (port ${n}) that is not defined in the Service associated with its workload instances (Pod selector ${selectorString(gw.spec.selector)}). If you need to access the gateway port through the gateway Service, it will not be available.`,
        );
      });
    }
  },
};
