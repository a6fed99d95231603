/**
 * The configuration snapshot: everything the routing engine needs, validated and frozen. Building one runs the
 * whole `config/` pipeline — load → typed resources → webhook validation → registry → analysis — and keeps the
 * diagnostics. Resources that istiod's webhook would reject are left out of the snapshot, as they would never
 * reach a proxy; their diagnostics stay.
 */
import { analyze } from './analyze/analyze.ts';
import { DestinationRuleIndex } from './destination-rules.ts';
import { type Diagnostic, sortDiagnostics } from './diagnostics.ts';
import { DEFAULT_CLUSTER_DOMAIN } from './hosts.ts';
import { loadPaths, parseText, type SourceDocument, type TextInput } from './load.ts';
import { buildRegistry, type Registry } from './registry.ts';
import { type DestinationRule, type Gateway, type Resource, toResources, type VirtualService } from './resources.ts';
import { validateResource } from './validate/index.ts';

/** Options for building a snapshot. */
export interface SnapshotOptions {
  /** Namespace for resources that set none; default `default`. */
  defaultNamespace?: string;
  clusterDomain?: string;
  /** Report skipped kinds. */
  verbose?: boolean;
  /** Run the cross-resource analyzers (default true). */
  analyze?: boolean;
}

/** A validated, immutable configuration. */
export interface ConfigSnapshot {
  /** Resources accepted (those without webhook errors), in load order. */
  resources: readonly Resource[];
  virtualServices: readonly VirtualService[];
  destinationRules: readonly DestinationRule[];
  gateways: readonly Gateway[];
  registry: Registry;
  destinationRuleIndex: DestinationRuleIndex;
  clusterDomain: string;
  /** Every diagnostic found, sorted by position. */
  diagnostics: readonly Diagnostic[];
  /** Number of resources read (accepted or not). */
  resourceCount: number;
  /** Files read (for watching). */
  files: readonly string[];
}

/** Builds a snapshot from parsed documents (plus load diagnostics). Never throws. */
export function buildSnapshot(
  documents: readonly SourceDocument[],
  loadDiagnostics: readonly Diagnostic[],
  opts: SnapshotOptions = {},
  files: readonly string[] = [],
): ConfigSnapshot {
  const clusterDomain = opts.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN;
  const typed = toResources(documents, {
    defaultNamespace: opts.defaultNamespace ?? 'default',
    verbose: opts.verbose === true,
  });
  const diagnostics: Diagnostic[] = [...loadDiagnostics, ...typed.diagnostics];
  const accepted: Resource[] = [];
  const rejected: Resource[] = [];
  for (const r of typed.resources) {
    const found = validateResource(r);
    diagnostics.push(...found);
    if (!found.some((d) => d.level === 'error')) accepted.push(r);
    else rejected.push(r);
  }
  const registry = buildRegistry(accepted, clusterDomain);
  if (opts.analyze !== false) diagnostics.push(...analyze({ resources: accepted, registry, rejected }));
  const drs = accepted.filter((r): r is DestinationRule => r.kind === 'DestinationRule');
  return Object.freeze({
    resources: Object.freeze(accepted),
    virtualServices: Object.freeze(accepted.filter((r): r is VirtualService => r.kind === 'VirtualService')),
    destinationRules: Object.freeze(drs),
    gateways: Object.freeze(accepted.filter((r): r is Gateway => r.kind === 'Gateway')),
    registry,
    destinationRuleIndex: new DestinationRuleIndex(drs, clusterDomain),
    clusterDomain,
    diagnostics: Object.freeze(sortDiagnostics(diagnostics)),
    resourceCount: typed.count,
    files,
  });
}

/**
 * Loads paths (files, directories, `-`) and builds a snapshot.
 * @throws PathNotFoundError (from `load.ts`) when a named path does not exist.
 */
export async function loadSnapshot(paths: readonly string[], opts: SnapshotOptions = {}): Promise<ConfigSnapshot> {
  const loaded = await loadPaths(paths);
  return buildSnapshot(loaded.documents, loaded.diagnostics, opts, loaded.files);
}

/** Builds a snapshot from in-memory texts (tests, the library API). */
export function snapshotFromTexts(inputs: readonly TextInput[], opts: SnapshotOptions = {}): ConfigSnapshot {
  const documents: SourceDocument[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const input of inputs) {
    const r = parseText(input);
    documents.push(...r.documents);
    diagnostics.push(...r.diagnostics);
  }
  return buildSnapshot(documents, diagnostics, opts);
}
