/** Shared helpers for the analyzer tests: run the whole snapshot pipeline on YAML texts and pick diagnostics. */
import type { Diagnostic } from '../../../../src/config/diagnostics.ts';
import { snapshotFromTexts } from '../../../../src/config/snapshot.ts';

/** Every diagnostic for the given YAML texts (each one file, `f0.yaml`, `f1.yaml`, …). */
export function diags(...texts: string[]): Diagnostic[] {
  return [...snapshotFromTexts(texts.map((text, i) => ({ file: `f${i}.yaml`, text }))).diagnostics];
}

/** The diagnostics of one code, as `[resource ns/name, field, message]` triples. */
export function of(code: string, ds: readonly Diagnostic[]): [string, string, string][] {
  return ds
    .filter((d) => d.code === code)
    .map((d) => [`${d.resource?.namespace}/${d.resource?.name}`, d.field, d.message]);
}

/** A Gateway with one server per `port:hosts` entry (`'80:a.com,b.com'`), optional selector and bind. */
export function gateway(
  ns: string,
  name: string,
  servers: string[],
  selector: Record<string, string> = { istio: 'ingressgateway' },
  bind?: string,
): string {
  const sel = Object.entries(selector)
    .map(([k, v]) => `    ${k}: ${v}\n`)
    .join('');
  const srv = servers
    .map((s, i) => {
      const [port, hosts] = s.split(':');
      const hs = (hosts ?? '')
        .split(',')
        .map((h) => `    - "${h}"\n`)
        .join('');
      return `  - port:\n      number: ${port}\n      name: http-${port}-${i}\n      protocol: HTTP\n${bind ? `    bind: ${bind}\n` : ''}    hosts:\n${hs}`;
    })
    .join('');
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: ${name}
  namespace: ${ns}
spec:
${sel ? `  selector:\n${sel}` : ''}  servers:
${srv}`;
}
