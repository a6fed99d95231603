/**
 * IST0118: a Kubernetes Service port whose name (or `appProtocol`) gives no protocol, so istiod falls back to
 * protocol sniffing for it. istio/istio `pkg/config/analysis/analyzers/service/portname.go` (`PortNameAnalyzer`)
 * with `kube.ConvertProtocol` (`src/config/protocol.ts`). Skipped, as in Istio: Services labelled `istio` or
 * `release: istio` (the control plane), and Services managed by istiod's gateway controllers
 * (`gateway.istio.io/managed`). An `ExternalName` Service gets a different code in Istio (IST0150, not in weir's
 * catalog) and is skipped here.
 *
 * The message shows `targetPort` as Kubernetes stores it: the port number when the manifest leaves it unset (the
 * API server's default; istioctl reading the same file prints `0`).
 */
import { convertProtocol } from '../protocol.ts';
import type { Analyzer } from './context.ts';

/** Values of `gateway.istio.io/managed` on Services that istiod's gateway controllers create. */
const MANAGED_GATEWAY_CONTROLLERS: ReadonlySet<string> = new Set([
  'istio.io-gateway-controller',
  'istio.io-mesh-controller',
  'istio.io-eastwest-controller',
]);

/** `service.PortNameAnalyzer`: IST0118. */
export const portNameAnalyzer: Analyzer = {
  name: 'service.PortNameAnalyzer',
  codes: ['IST0118'],
  run(ctx) {
    for (const svc of ctx.of('Service')) {
      if ('istio' in svc.labels || svc.labels.release === 'istio') continue;
      if (MANAGED_GATEWAY_CONTROLLERS.has(svc.labels['gateway.istio.io/managed'] ?? '')) continue;
      if (svc.spec.type === 'ExternalName') continue;
      (svc.spec.ports ?? []).forEach((port, i) => {
        const name = port.name ?? '';
        if (convertProtocol(port.port, name, port.protocol, port.appProtocol) !== 'UnsupportedProtocol') return;
        const target = port.targetPort ?? port.port;
        ctx.report(
          svc,
          ['spec', 'ports', i, 'port'],
          'IST0118',
          `Port name ${name} (port: ${port.port}, targetPort: ${target}) doesn't follow the naming convention of Istio port.`,
        );
      });
    }
  },
};
