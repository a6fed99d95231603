/**
 * IST0134: a ServiceEntry without `addresses` has a port whose protocol is TCP or unset. Without a virtual IP a
 * sidecar cannot tell that service's TCP traffic apart from any other on the port (it is matched by destination
 * address). istio/istio `pkg/config/analysis/analyzers/serviceentry/protocoladdresses.go`
 * (`ProtocolAddressesAnalyzer`, named `serviceentry.Analyzer`).
 *
 * Istio skips the check when the mesh config turns on DNS capture with address auto-allocation
 * (`ISTIO_META_DNS_CAPTURE` and `ISTIO_META_DNS_AUTO_ALLOCATE` or `PILOT_ENABLE_IP_AUTOALLOCATE` in
 * `defaultConfig.proxyMetadata`) or when the ServiceEntry's `status.addresses` holds an allocated address. weir
 * reads no mesh config and no status: it checks as with Istio's defaults (DNS capture off) and no status.
 */
import type { Analyzer } from './context.ts';

/** `serviceentry.Analyzer`: IST0134. */
export const protocolAddressesAnalyzer: Analyzer = {
  name: 'serviceentry.Analyzer',
  codes: ['IST0134'],
  run(ctx) {
    for (const se of ctx.of('ServiceEntry')) {
      if ((se.spec.addresses ?? []).length > 0) continue;
      (se.spec.ports ?? []).forEach((port, i) => {
        const protocol = port.protocol ?? '';
        if (protocol !== '' && protocol.toUpperCase() !== 'TCP') return;
        ctx.report(se, ['spec', 'ports', i], 'IST0134', 'ServiceEntry addresses are required for this protocol.');
      });
    }
  },
};
