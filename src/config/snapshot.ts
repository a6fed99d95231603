/**
 * The configuration snapshot: everything the routing engine needs, validated and frozen. Building one runs the
 * whole `config/` pipeline — load → typed resources → webhook validation → registry → analysis — and keeps the
 * diagnostics. Resources that istiod's webhook would reject are left out of the snapshot, as they would never
 * reach a proxy; their diagnostics stay.
 */

import { runToEnd, type Steps } from '../util/slice.ts';
import { analyzeSteps } from './analyze/analyze.ts';
import { DestinationRuleIndex } from './destination-rules.ts';
import { CODES, type Diagnostic, sortDiagnostics } from './diagnostics.ts';
import { DEFAULT_CLUSTER_DOMAIN } from './hosts.ts';
import { parseText, type SourceDocument, type TextInput } from './load.ts';
import { buildRegistrySteps, patchRegistry, type Registry } from './registry.ts';
import {
  type DestinationRule,
  dedupeResourcesSteps,
  type Gateway,
  type Resource,
  type ResourceOptions,
  type TypedDocument,
  typeDocument,
  type VirtualService,
} from './resources.ts';
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
  /** Resources left out for webhook errors (for the analyzers that explain a rejection). */
  rejected?: readonly Resource[];
}

/** Builds a snapshot from parsed documents (plus load diagnostics). Never throws. */
export function buildSnapshot(
  documents: readonly SourceDocument[],
  loadDiagnostics: readonly Diagnostic[],
  opts: SnapshotOptions = {},
  files: readonly string[] = [],
  inputs: readonly string[] = files,
): ConfigSnapshot {
  const typed = documents.map((doc) => typeDocument(doc, typingOptions(opts)));
  return runToEnd(assembleSnapshot({ typed, loadDiagnostics, files, inputs }, opts, null));
}

/** The options of {@link typeDocument} a snapshot's options imply. */
export function typingOptions(opts: SnapshotOptions): ResourceOptions {
  return {
    defaultNamespace: opts.defaultNamespace ?? 'default',
    verbose: opts.verbose === true,
    fieldValidation: opts.fieldValidation ?? 'strict',
  };
}

/** What {@link assembleSnapshot} builds from: every typed document in load order, and what loading reported. */
export interface SnapshotInput {
  typed: readonly TypedDocument[];
  loadDiagnostics: readonly Diagnostic[];
  /** Files read (for watching). */
  files: readonly string[];
  /** The paths the user named (for `WEIR0006`). */
  inputs: readonly string[];
}

/** Webhook findings per resource object: a resource reused across snapshots is validated once. */
const webhookFindings = new WeakMap<Resource, Diagnostic[]>();

/** Whether istiod's webhook rules find anything about a resource (computed once per resource object). */
export function hasWebhookFindings(r: Resource): boolean {
  return validateOnce(r).length > 0;
}

function validateOnce(r: Resource): Diagnostic[] {
  let found = webhookFindings.get(r);
  if (!found) {
    found = validateResource(r);
    webhookFindings.set(r, found);
  }
  return found;
}

/**
 * Assembles a snapshot as steps (`util/slice.ts`): duplicates dropped, webhook rules applied (once per resource
 * object), the registry built, the DestinationRule index, and, unless `opts.analyze` is false, the analyzers.
 * With `previous` (the last snapshot from the same source), everything built from resources that are the same
 * objects is reused: typed documents of unchanged files, their webhook findings, registry services (see
 * `buildRegistrySteps`), so a small change costs little. Never throws for user mistakes.
 */
export function* assembleSnapshot(
  input: SnapshotInput,
  opts: SnapshotOptions,
  previous: ConfigSnapshot | null,
): Steps<ConfigSnapshot> {
  /** Pause points are offered every few units (a generator step costs more than one unit here). */
  let stepCount = 0;
  const clusterDomain = opts.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN;
  const deduped = yield* dedupeResourcesSteps(input.typed);
  const diagnostics: Diagnostic[] = [...input.loadDiagnostics];
  let resourceCount = 0;
  for (const t of input.typed) {
    for (const d of t.diagnostics) diagnostics.push(d);
    resourceCount += t.count;
  }
  for (const d of deduped.diagnostics) diagnostics.push(d);
  if (resourceCount === 0 && !diagnostics.some((d) => d.level === 'error'))
    diagnostics.push(noResources(input.typed, input.files, input.inputs));
  yield;
  const accepted: Resource[] = [];
  const rejected: Resource[] = [];
  for (const r of deduped.resources) {
    const found = validateOnce(r);
    for (const d of found) diagnostics.push(d);
    if (!found.some((d) => d.level === 'error')) accepted.push(r);
    else rejected.push(r);
    if ((++stepCount & 63) === 0) yield;
  }
  const previousRegistry = previous && previous.clusterDomain === clusterDomain ? previous.registry : null;
  const registry = yield* buildRegistrySteps(accepted, clusterDomain, previousRegistry);
  const virtualServices: VirtualService[] = [];
  const destinationRules: DestinationRule[] = [];
  const gateways: Gateway[] = [];
  for (const r of accepted) {
    if (r.kind === 'VirtualService') virtualServices.push(r as VirtualService);
    else if (r.kind === 'DestinationRule') destinationRules.push(r as DestinationRule);
    else if (r.kind === 'Gateway') gateways.push(r as Gateway);
  }
  yield;
  // The same rules as before (the usual case: an endpoint or a VirtualService changed): the index is reused, with
  // the look-ups it has already merged.
  const sameRules =
    previous !== null &&
    previous.clusterDomain === clusterDomain &&
    previous.destinationRules.length === destinationRules.length &&
    previous.destinationRules.every((r, i) => r === destinationRules[i]);
  const destinationRuleIndex = sameRules
    ? previous.destinationRuleIndex
    : new DestinationRuleIndex(destinationRules, clusterDomain);
  yield;
  if (opts.analyze !== false) {
    for (const d of yield* analyzeSteps({ resources: accepted, registry, rejected, drIndex: destinationRuleIndex }))
      diagnostics.push(d);
  }
  return Object.freeze({
    resources: Object.freeze(accepted),
    virtualServices: Object.freeze(virtualServices),
    destinationRules: Object.freeze(destinationRules),
    gateways: Object.freeze(gateways),
    registry,
    destinationRuleIndex,
    clusterDomain,
    diagnostics: Object.freeze(sortDiagnostics(diagnostics)),
    resourceCount,
    files: input.files,
    rejected: Object.freeze(rejected),
  });
}

/** Where each resource of a snapshot sits in its arrays, for {@link patchSnapshot} (built on first use). */
interface AssemblyMemo {
  accepted: Map<Resource, number>;
  rejected: Map<Resource, number>;
  /** Index in `virtualServices`, `destinationRules` or `gateways`. */
  byKind: Map<Resource, number>;
}

const assemblyMemos = new WeakMap<ConfigSnapshot, AssemblyMemo>();

function* memoOf(s: ConfigSnapshot): Steps<AssemblyMemo> {
  const memo: AssemblyMemo = { accepted: new Map(), rejected: new Map(), byKind: new Map() };
  let n = 0;
  const index = (list: readonly Resource[], into: Map<Resource, number>) => {
    for (let i = 0; i < list.length; i++) into.set(list[i]!, i);
  };
  index(s.resources, memo.accepted);
  yield;
  index(s.rejected ?? [], memo.rejected);
  for (const list of [s.virtualServices, s.destinationRules, s.gateways]) {
    index(list, memo.byKind);
    if ((++n & 1) === 0) yield;
  }
  return memo;
}

/**
 * The next snapshot when files were edited in place: `pairs` replace resources of `previous` by new versions of the
 * same kind, namespace and name (the store pairs them). Everything else is kept as it is: the order, the other
 * resources, their findings, the DestinationRule index unless a rule changed; the registry is rebuilt from its memo.
 * Returns null when the edit is not a plain replacement — a resource changes between accepted and rejected, or was a
 * duplicate — or when the snapshot carries analyzer findings (`opts.analyze` not false): then the caller assembles
 * the snapshot anew. The result equals a full assembly.
 */
export function* patchSnapshot(
  previous: ConfigSnapshot,
  pairs: readonly (readonly [Resource, Resource])[],
  opts: SnapshotOptions,
): Steps<ConfigSnapshot | null> {
  if (opts.analyze !== false || previous.clusterDomain !== (opts.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN)) return null;
  const memo = assemblyMemos.get(previous) ?? (yield* memoOf(previous));
  const rejectedBefore = previous.rejected ?? [];
  // A duplicate's WEIR0005 names the line of the first definition, which an edit of its file may move: while a
  // resource is defined twice, snapshots are assembled anew.
  if (previous.diagnostics.some((d) => d.code === CODES.WEIR0005.code)) return null;
  for (const [a, b] of pairs) {
    const wasAccepted = memo.accepted.has(a);
    if (!wasAccepted && !memo.rejected.has(a)) return null;
    if (wasAccepted === validateOnce(b).some((d) => d.level === 'error')) return null;
  }
  const resources = previous.resources.slice();
  const rejected = rejectedBefore.slice();
  const kinds = {
    VirtualService: previous.virtualServices.slice(),
    DestinationRule: previous.destinationRules.slice(),
    Gateway: previous.gateways.slice(),
  };
  let rulesChanged = false;
  const removedFindings = new Set<Diagnostic>();
  const addedFindings: Diagnostic[] = [];
  for (const [a, b] of pairs) {
    b.order = a.order;
    const where = memo.accepted.has(a) ? memo.accepted : memo.rejected;
    const i = where.get(a)!;
    (where === memo.accepted ? resources : rejected)[i] = b;
    where.delete(a);
    where.set(b, i);
    const k = memo.byKind.get(a);
    if (k !== undefined && where === memo.accepted) {
      (kinds[a.kind as keyof typeof kinds] as Resource[])[k] = b;
      memo.byKind.delete(a);
      memo.byKind.set(b, k);
      if (a.kind === 'DestinationRule') rulesChanged = true;
    }
    for (const d of webhookFindings.get(a) ?? []) removedFindings.add(d);
    for (const d of validateOnce(b)) addedFindings.push(d);
  }
  yield;
  const diagnostics =
    removedFindings.size === 0 && addedFindings.length === 0
      ? previous.diagnostics
      : Object.freeze(
          sortDiagnostics([...previous.diagnostics.filter((d) => !removedFindings.has(d)), ...addedFindings]),
        );
  const patched = patchRegistry(previous.registry, pairs);
  const registry =
    patched?.registry ?? (yield* buildRegistrySteps(resources, previous.clusterDomain, previous.registry));
  const destinationRuleIndex = rulesChanged
    ? new DestinationRuleIndex(kinds.DestinationRule as DestinationRule[], previous.clusterDomain)
    : previous.destinationRuleIndex;
  const next: ConfigSnapshot = Object.freeze({
    resources: Object.freeze(resources),
    virtualServices: Object.freeze(kinds.VirtualService as VirtualService[]),
    destinationRules: Object.freeze(kinds.DestinationRule as DestinationRule[]),
    gateways: Object.freeze(kinds.Gateway as Gateway[]),
    registry,
    destinationRuleIndex,
    clusterDomain: previous.clusterDomain,
    diagnostics,
    resourceCount: previous.resourceCount,
    files: previous.files,
    rejected: Object.freeze(rejected),
  });
  // The memo moves to the new snapshot (its maps were updated in place; the previous snapshot is superseded).
  assemblyMemos.delete(previous);
  assemblyMemos.set(next, memo);
  return next;
}

/**
 * The analyzers' findings for a snapshot built with `analyze: false` (the proxy applies a change first and analyzes
 * it after, off the path of the swap), sorted.
 */
export function* analyzeSnapshot(snapshot: ConfigSnapshot): Steps<Diagnostic[]> {
  const found = yield* analyzeSteps({
    resources: snapshot.resources,
    registry: snapshot.registry,
    rejected: snapshot.rejected ?? [],
    drIndex: snapshot.destinationRuleIndex,
  });
  return sortDiagnostics(found);
}

/**
 * Loads paths (files, directories, `-`) and builds a snapshot.
 * @throws PathNotFoundError (from `load.ts`) when a named path does not exist.
 */
export async function loadSnapshot(paths: readonly string[], opts: SnapshotOptions = {}): Promise<ConfigSnapshot> {
  const { FileConfigStore } = await import('./store.ts');
  return new FileConfigStore(paths, opts).refresh();
}

/**
 * `WEIR0006`: the input holds nothing weir reads — no file at all (an empty folder), only empty documents, or only
 * kinds weir skips — so "no issues" would say nothing. A warning (`--fail-on warning` fails on it).
 */
function noResources(typed: readonly TypedDocument[], files: readonly string[], inputs: readonly string[]): Diagnostic {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const read = [...new Set([...files, ...typed.map((t) => t.source.file), ...inputs.filter((p) => p === '-')])];
  const position = read[0] === undefined ? null : { file: read[0], line: 1, column: 1 };
  let message: string;
  if (read.length === 0)
    message = `no resources: no *.yaml, *.yml or *.json file in ${inputs.length > 0 ? inputs.join(', ') : 'the input'}`;
  else {
    const kinds = new Set<string>();
    for (const t of typed) if (t.source.kind !== null) kinds.add(t.source.kind);
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
