/**
 * Cross-resource analysis: what `istioctl analyze` reports about resources that istiod would accept but that would
 * not work as intended (istio/istio `pkg/config/analysis/analyzers/`), plus weir's own checks for traps users hit
 * (`WEIR0010`, `WEIR0012`). One analyzer per file in this folder; this file lists them and runs them in order.
 * Identical diagnostics are reported once, as istioctl's `SortedDedupedCopy` does. Pure: works on resources and
 * the registry only.
 */
import { runToEnd, type Steps } from '../../util/slice.ts';
import type { Diagnostic } from '../diagnostics.ts';
import { caCertificateAnalyzer } from './ca-certificates.ts';
import { canaryAnalyzer } from './canary.ts';
import { conflictingGatewayAnalyzer } from './conflicting-gateways.ts';
import { conflictingMeshGatewayHostsAnalyzer } from './conflicting-mesh-hosts.ts';
import { conflictingServiceEntryProtocolAnalyzer } from './conflicting-service-entries.ts';
import { type AnalysisInput, type Analyzer, createContext } from './context.ts';
import { destinationHostAnalyzer } from './destination-hosts.ts';
import { subsetSelectPodAnalyzer } from './destination-rule-subsets.ts';
import { ingressGatewayPortAnalyzer } from './gateway-ports.ts';
import { ingressSubsetAnalyzer } from './ingress-subsets.ts';
import { protocolAddressesAnalyzer } from './service-entry-addresses.ts';
import { portNameAnalyzer } from './service-port-names.ts';
import { stickySplitAnalyzer } from './sticky-split.ts';
import { gatewayAnalyzer } from './virtual-service-gateways.ts';

export type { AnalysisInput } from './context.ts';

/** Every analyzer, in the order they run. */
export const ANALYZERS: readonly Analyzer[] = [
  destinationHostAnalyzer,
  ingressSubsetAnalyzer,
  gatewayAnalyzer,
  stickySplitAnalyzer,
  conflictingMeshGatewayHostsAnalyzer,
  subsetSelectPodAnalyzer,
  caCertificateAnalyzer,
  conflictingGatewayAnalyzer,
  ingressGatewayPortAnalyzer,
  portNameAnalyzer,
  protocolAddressesAnalyzer,
  conflictingServiceEntryProtocolAnalyzer,
  canaryAnalyzer,
];

/** Runs every analyzer and returns their diagnostics (unsorted, duplicates removed). Never throws for user input. */
export function analyze(input: AnalysisInput): Diagnostic[] {
  return runToEnd(analyzeSteps(input));
}

/** {@link analyze} as steps (`util/slice.ts`): a pause point after each analyzer. */
export function* analyzeSteps(input: AnalysisInput): Steps<Diagnostic[]> {
  const out: Diagnostic[] = [];
  const ctx = createContext(input, out);
  yield;
  for (const a of ANALYZERS) {
    const steps = a.run(ctx);
    if (steps) yield* steps;
    yield;
  }
  const seen = new Set<string>();
  return out.filter((d) => {
    const key = JSON.stringify([d.code, d.level, d.message, d.resource, d.field, d.position]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
