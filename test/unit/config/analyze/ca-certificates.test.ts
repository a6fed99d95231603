/**
 * destinationrule.CaCertificateAnalyzer (IST0128, IST0129) on the cases of istio/istio's analyzer testdata
 * (destinationrule-simple-*.yaml, destinationrule-mutual-*.yaml, destinationrule-compound-*.yaml,
 * destinationrule-with-ca.yaml, *-credentialname*.yaml).
 */
import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../../../../src/config/diagnostics.ts';
import { diags as all, of } from './helpers.ts';

/** The database the DestinationRule is for, so that the only findings are about TLS. */
const DB = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: prod}
spec:
  hosts: [mydbserver.prod.svc.cluster.local]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 443, name: tls, protocol: TLS}]
`;
const diags = (text: string): Diagnostic[] => all(DB, text);

const dr = (tls: string, ports = '', extra = '') => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: db-tls
  namespace: prod
spec:
  host: mydbserver.prod.svc.cluster.local
${extra}  trafficPolicy:
${tls ? `    tls: ${tls}\n` : ''}${ports ? `    portLevelSettings:\n    - port: {number: 443}\n      tls: ${ports}\n` : ''}`;
const SIMPLE = '{mode: SIMPLE, sni: my-nginx.mesh-external.svc.cluster.local}';
const MUTUAL = '{mode: MUTUAL, clientCertificate: /etc/certs/c.pem, privateKey: /etc/certs/k.pem}';
const CRED = '{mode: SIMPLE, credentialName: db-credential}';
const HOST = 'mydbserver.prod.svc.cluster.local';

describe('IST0128/IST0129 NoServerCertificateVerification', () => {
  it('warns for SIMPLE or MUTUAL without caCertificates, at the destination level', () => {
    for (const [tls, mode] of [
      [SIMPLE, 'SIMPLE'],
      [MUTUAL, 'MUTUAL'],
    ]) {
      const ds = diags(dr(tls!));
      expect(of('IST0106', ds)).toEqual([]);
      expect(of('IST0128', ds)).toEqual([
        [
          'prod/db-tls',
          'spec.trafficPolicy.tls.mode',
          `DestinationRule prod/db-tls in namespace prod has TLS mode set to ${mode} but no caCertificates are set to validate server identity for host: ${HOST}`,
        ],
      ]);
      expect(ds[0]?.level).toBe('warning');
    }
  });

  it('warns at the port level with the port as Go prints the PortSelector', () => {
    const ds = diags(dr('', MUTUAL));
    expect(of('IST0129', ds)).toEqual([
      [
        'prod/db-tls',
        'spec.trafficPolicy.portLevelSettings[0].tls.mode',
        `DestinationRule prod/db-tls in namespace prod has TLS mode set to MUTUAL but no caCertificates are set to validate server identity for host: ${HOST} at port number:443`,
      ],
    ]);
    expect(of('IST0128', ds)).toEqual([]);
  });

  it('reports both levels when both lack a CA (compound)', () => {
    expect(diags(dr(MUTUAL, SIMPLE)).map((d) => d.code)).toEqual(['IST0128', 'IST0129']);
  });

  it('is silent with caCertificates, for DISABLE and ISTIO_MUTUAL, and for credentialName with a workloadSelector', () => {
    const withCa = '{mode: SIMPLE, caCertificates: /etc/certs/ca.pem}';
    expect(diags(dr(withCa, withCa))).toEqual([]);
    expect(diags(dr('{mode: DISABLE}', '{mode: ISTIO_MUTUAL}'))).toEqual([]);
    const selector = '  workloadSelector:\n    matchLabels: {app: client}\n';
    expect(diags(dr(CRED, CRED, selector))).toEqual([]);
  });

  it('credentialName without a workloadSelector does not excuse the missing CA', () => {
    expect(diags(dr(CRED, CRED)).map((d) => d.code)).toEqual(['IST0128', 'IST0129']);
  });
});
