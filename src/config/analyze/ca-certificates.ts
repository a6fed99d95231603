/**
 * IST0128 and IST0129: a DestinationRule originates TLS (`mode: SIMPLE` or `MUTUAL`) without `caCertificates`, so
 * the upstream's certificate is not verified. istio/istio `pkg/config/analysis/analyzers/destinationrule/
 * ca-certificates.go` (`CaCertificateAnalyzer`): the top-level `trafficPolicy.tls` (IST0128) and each
 * `trafficPolicy.portLevelSettings[].tls` (IST0129); a `credentialName` excuses the missing CA only when the
 * DestinationRule has a `workloadSelector`. Subset policies are not checked (nor are they in Istio).
 *
 * The port in IST0129 is printed as Go prints the `PortSelector` message (`number:443`).
 */
import type { DestinationRule } from '../resources.ts';
import type { Analyzer } from './context.ts';

type Tls = NonNullable<NonNullable<DestinationRule['spec']['trafficPolicy']>['tls']>;

/** The TLS mode when it originates TLS without a way to verify the server, else null. */
function unverifiedMode(tls: Tls | undefined, dr: DestinationRule): 'SIMPLE' | 'MUTUAL' | null {
  if (!tls || (tls.mode !== 'SIMPLE' && tls.mode !== 'MUTUAL')) return null;
  if (tls.caCertificates) return null;
  if (tls.credentialName && dr.spec.workloadSelector !== undefined) return null;
  return tls.mode;
}

/** Go's text form of a `PortSelector` message: `number:443`; empty for port 0, `<nil>` when absent. */
function portSelectorText(port: { number?: number | undefined } | undefined): string {
  if (!port) return '<nil>';
  return port.number ? `number:${port.number}` : '';
}

/** `destinationrule.CaCertificateAnalyzer`: IST0128, IST0129. */
export const caCertificateAnalyzer: Analyzer = {
  name: 'destinationrule.CaCertificateAnalyzer',
  codes: ['IST0128', 'IST0129'],
  run(ctx) {
    for (const dr of ctx.of('DestinationRule')) {
      const name = `${dr.namespace}/${dr.name}`;
      const host = dr.spec.host ?? '';
      const tp = dr.spec.trafficPolicy;
      const mode = unverifiedMode(tp?.tls, dr);
      if (mode) {
        ctx.report(
          dr,
          ['spec', 'trafficPolicy', 'tls', 'mode'],
          'IST0128',
          `DestinationRule ${name} in namespace ${dr.namespace} has TLS mode set to ${mode} but no caCertificates are set to validate server identity for host: ${host}`,
        );
      }
      (tp?.portLevelSettings ?? []).forEach((p, i) => {
        const portMode = unverifiedMode(p.tls, dr);
        if (!portMode) return;
        ctx.report(
          dr,
          ['spec', 'trafficPolicy', 'portLevelSettings', i, 'tls', 'mode'],
          'IST0129',
          `DestinationRule ${name} in namespace ${dr.namespace} has TLS mode set to ${portMode} but no caCertificates are set to validate server identity for host: ${host} at port ${portSelectorText(p.port)}`,
        );
      });
    }
  },
};
