/**
 * The configuration snapshot: everything the routing engine needs, validated and frozen. Building one runs the
 * whole `config/` pipeline — load → typed resources → webhook validation → registry → analysis — and keeps the
 * diagnostics. Resources that istiod's webhook would reject are left out of the snapshot, as they would never
 * reach a proxy; their diagnostics stay.
 */
import { analyze } from './analyze/analyze.ts';
import { DestinationRuleIndex } from './destination-rules.ts';
import { CODES, type Diagnostic, sortDiagnostics } from './diagnostics.ts';
import { DEFAULT_CLUSTER_DOMAIN } from './hosts.ts';
import { loadPaths, parseText, type SourceDocument, type TextInput } from './load.ts';
import { buildRegistry, type Registry } from './registry.ts';
import { type DestinationRule, type Gateway, type Resource, toResources, type VirtualService } from './resources.ts';
import type { FieldValidation } from './schema-check.ts';
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
  /** Unknown fields: `strict` (default, an error), `warn` or `ignore`, as kubectl's `--validate` (`resources.ts`). */
  fieldValidation?: FieldValidation;
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

/**
 * Builds a snapshot from parsed documents (plus load diagnostics). `files` are the files read; `inputs` the paths as
 * the user gave them (files, directories, `-`), named when they hold nothing to read. Never throws.
 */
export function buildSnapshot(
  documents: readonly SourceDocument[],
  loadDiagnostics: readonly Diagnostic[],
  opts: SnapshotOptions = {},
  files: readonly string[] = [],
  inputs: readonly string[] = files,
): ConfigSnapshot {
  const clusterDomain = opts.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN;
  const typed = toResources(documents, {
    defaultNamespace: opts.defaultNamespace ?? 'default',
    verbose: opts.verbose === true,
    fieldValidation: opts.fieldValidation ?? 'strict',
  });
  const diagnostics: Diagnostic[] = [...loadDiagnostics, ...typed.diagnostics];
  if (typed.count === 0 && !diagnostics.some((d) => d.level === 'error'))
    diagnostics.push(noResources(documents, files, inputs));
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
  return buildSnapshot(loaded.documents, loaded.diagnostics, opts, loaded.files, paths);
}

/**
 * `WEIR0006`: the input holds nothing weir reads — no file at all (an empty folder), only empty documents, or only
 * kinds weir skips — so "no issues" would say nothing. A warning (`--fail-on warning` fails on it).
 */
function noResources(
  documents: readonly SourceDocument[],
  files: readonly string[],
  inputs: readonly string[],
): Diagnostic {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const read = [...new Set([...files, ...documents.map((d) => d.file), ...inputs.filter((p) => p === '-')])];
  const position = read[0] === undefined ? null : { file: read[0], line: 1, column: 1 };
  let message: string;
  if (read.length === 0)
    message = `no resources: no *.yaml, *.yml or *.json file in ${inputs.length > 0 ? inputs.join(', ') : 'the input'}`;
  else {
    const kinds = new Set<string>();
    for (const d of documents) {
      const v = d.value as { apiVersion?: unknown; kind?: unknown } | null;
      if (v !== null && typeof v === 'object') kinds.add(`${String(v.apiVersion)} ${String(v.kind)}`);
    }
    const what =
      read.length === 1 ? (read[0] === '-' ? 'stdin' : 'the file') : `all ${plural(read.length, 'file')} read`;
    message =
      kinds.size === 0
        ? `no resources: ${what} ${read.length === 1 ? 'is' : 'are'} empty`
        : `no resources weir reads: only ${[...kinds].sort().join(', ')} in ${plural(read.length, 'file')} (weir reads Istio networking resources, Kubernetes Service, Pod, EndpointSlice, Deployment, StatefulSet, DaemonSet and weir.dev Canary)`;
  }
  return { level: 'warning', code: CODES.WEIR0006.code, message, resource: null, field: '', position };
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
  return buildSnapshot(
    documents,
    diagnostics,
    opts,
    inputs.map((i) => i.file),
  );
}
