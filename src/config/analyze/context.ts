/**
 * What every analyzer gets: the accepted resources by kind, the registry, the DestinationRule index, and a way to
 * report a diagnostic about a resource at a field path. Analyzers are pure functions of this context, each in its
 * own file, named after the `istioctl analyze` analyzer it reproduces (istio/istio `pkg/config/analysis/analyzers/`).
 */
import { DestinationRuleIndex } from '../destination-rules.ts';
import type { Code, Diagnostic } from '../diagnostics.ts';
import { CODES } from '../diagnostics.ts';
import type { Registry } from '../registry.ts';
import type { Kind, Resource } from '../resources.ts';
import { createReporter } from '../validate/report.ts';

/** Inputs of the analysis: the resources that passed webhook validation and the registry built from them. */
export interface AnalysisInput {
  resources: readonly Resource[];
  registry: Registry;
  /** The snapshot's DestinationRule index (its merged look-ups are reused); built from the resources when absent. */
  drIndex?: DestinationRuleIndex;
  /**
   * Resources the webhook rejects (left out of everything else). istioctl runs its analyzers on them too; weir
   * looks at them only where a rejection hides the finding that explains it (IST0165).
   */
  rejected?: readonly Resource[];
}

/** The read-only view an analyzer works on, plus its output channel. */
export interface AnalysisContext {
  readonly resources: readonly Resource[];
  readonly registry: Registry;
  readonly drIndex: DestinationRuleIndex;
  /** Resources with webhook errors (see {@link AnalysisInput.rejected}). */
  readonly rejected: readonly Resource[];
  /** The accepted resources of one kind, in load order. */
  of<K extends Kind>(kind: K): readonly Resource<K>[];
  /**
   * Reports `message` about `resource` at the field `path` (relative to the resource root) with the catalog code's
   * level, or `level` when given (Istio's analyzers always use the code's level).
   */
  report(
    resource: Resource,
    path: readonly (string | number)[],
    code: Code,
    message: string,
    level?: Diagnostic['level'],
  ): void;
}

/** One analyzer: Istio's analyzer name (or weir's), the codes it can emit, and the check. */
export interface Analyzer {
  /** `virtualservice.GatewayAnalyzer`, … as `istioctl analyze --list-analyzers` names it; `weir.…` for weir's own. */
  name: string;
  codes: readonly Code[];
  /** The check; a generator offers pause points (`util/slice.ts`), one per resource checked. */
  run(ctx: AnalysisContext): void | Iterable<void>;
}

/** Builds the context for one analysis run; diagnostics are appended to `out`. */
export function createContext(input: AnalysisInput, out: Diagnostic[]): AnalysisContext {
  const byKind = new Map<Kind, Resource[]>();
  for (const r of input.resources) {
    const list = byKind.get(r.kind) ?? [];
    list.push(r);
    byKind.set(r.kind, list);
  }
  const drs = (byKind.get('DestinationRule') ?? []) as Resource<'DestinationRule'>[];
  return {
    resources: input.resources,
    registry: input.registry,
    drIndex: input.drIndex ?? new DestinationRuleIndex(drs, input.registry.clusterDomain),
    rejected: input.rejected ?? [],
    of: <K extends Kind>(kind: K) => (byKind.get(kind) ?? []) as Resource<K>[],
    report: (resource, path, code, message, level) =>
      createReporter(resource, out)(path, message, { code, level: level ?? CODES[code].level }),
  };
}
