/**
 * Which proxies a VirtualService applies to (istio-semantics §1.3): gateway references resolved as Istio resolves
 * them, and whether a VirtualService is bound to the mesh (sidecars). Shared by the analyzers and the routing engine.
 */
import type { VirtualService } from './resources.ts';

/**
 * Resolves a gateway reference as Istio does (`resolveGatewayName`): `ns/name`, `./name`, bare `name` (the
 * VirtualService's namespace), or the legacy `name.ns.svc.cluster.local` form.
 */
export function gatewayFullName(ref: string, vsNamespace: string): string {
  if (ref === 'mesh') return 'mesh';
  const slash = ref.indexOf('/');
  if (slash >= 0) {
    const ns = ref.slice(0, slash);
    return `${ns === '.' ? vsNamespace : ns}/${ref.slice(slash + 1)}`;
  }
  if (ref.includes('.')) {
    const parts = ref.split('.');
    return `${parts[1] ?? vsNamespace}/${parts[0]}`;
  }
  return `${vsNamespace}/${ref}`;
}

/** True when the VirtualService applies to sidecars (no `gateways`, or `mesh` listed). */
export function appliesToMesh(vs: VirtualService): boolean {
  const g = vs.spec.gateways ?? [];
  return g.length === 0 || g.includes('mesh');
}
