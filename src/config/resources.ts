/**
 * Turns loaded documents into typed resources: dispatches on `apiVersion` + `kind`, checks the top level, the
 * metadata and the spec against their schemas (type errors → `IST0106`; unknown fields → `WEIR0002`, an error that
 * refuses the resource as the API server's strict field validation does, or a warning with `fieldValidation: 'warn'`;
 * see `schema-check.ts`), applies the default namespace, and drops duplicates. Kinds weir does not read are skipped
 * (an info line with `verbose`). Pure: no I/O.
 */
import type { z } from 'zod';
import { runToEnd, type Steps } from '../util/slice.ts';
import { CODES, type Diagnostic, type Level, type SourcePosition } from './diagnostics.ts';
import { EndpointSliceEnvelope, ObjectMeta, SpecEnvelope } from './envelope.ts';
import * as S from './istio/schemas.ts';
import type { SourceDocument } from './load.ts';
import { checkSchema, type FieldValidation, valueAt } from './schema-check.ts';
import { CANARY_API_VERSION, CanarySpec } from './weir/canary.ts';

/** The Istio networking API versions weir accepts (v1 and v1beta1 are aliases of v1alpha3). */
export const ISTIO_NETWORKING_VERSIONS = [
  'networking.istio.io/v1alpha3',
  'networking.istio.io/v1beta1',
  'networking.istio.io/v1',
];

/** Specs by kind. */
export interface SpecByKind {
  VirtualService: S.VirtualServiceSpec;
  DestinationRule: S.DestinationRuleSpec;
  ServiceEntry: S.ServiceEntrySpec;
  WorkloadEntry: S.WorkloadEntrySpec;
  Gateway: S.GatewaySpec;
  Service: z.infer<typeof S.K8sServiceSpec>;
  Pod: { spec: z.infer<typeof S.K8sPodSpec>; status: z.infer<typeof S.K8sPodStatus> };
  EndpointSlice: z.infer<typeof S.K8sEndpointSlice>;
  Deployment: z.infer<typeof S.K8sWorkloadSpec>;
  StatefulSet: z.infer<typeof S.K8sWorkloadSpec>;
  DaemonSet: z.infer<typeof S.K8sWorkloadSpec>;
  Canary: CanarySpec;
}

/** A resource kind weir reads. */
export type Kind = keyof SpecByKind;

/** A typed resource with its origin. `spec` is the checked spec (Pod: `{spec, status}`; EndpointSlice: the object). */
export interface Resource<K extends Kind = Kind> {
  kind: K;
  apiVersion: string;
  name: string;
  /** metadata.namespace, or the default namespace (`--namespace`, else `default`). */
  namespace: string;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
  /** metadata.creationTimestamp in ms since the epoch, or null when absent (then load order decides). */
  createdMs: number | null;
  /** Position in load order (0-based), the tie-breaker after creation time. */
  order: number;
  spec: SpecByKind[K];
  /** Maps a path relative to the resource root (e.g. `['spec','http',0]`) to a source position. */
  locate(path: readonly (string | number)[], opts?: { key?: boolean }): SourcePosition;
}

export type VirtualService = Resource<'VirtualService'>;
export type DestinationRule = Resource<'DestinationRule'>;
export type ServiceEntry = Resource<'ServiceEntry'>;
export type WorkloadEntry = Resource<'WorkloadEntry'>;
export type Gateway = Resource<'Gateway'>;
export type Canary = Resource<'Canary'>;

interface KindDef {
  kind: Kind;
  apiVersions: readonly string[];
  /** The part of the object that is checked, and how. */
  schema: z.ZodType;
  field: 'spec' | 'object' | 'pod';
  /**
   * True for the kinds whose schema is complete (Istio's, the Canary): `spec` is required and every unknown field is
   * reported. False for the Kubernetes kinds, whose (loose) schema models only what weir reads: an absent spec is
   * empty, and unknown spec fields pass (their top level and metadata are still checked strictly).
   */
  strict: boolean;
}

const WORKLOAD_VERSIONS = ['apps/v1'];
const KINDS: readonly KindDef[] = [
  {
    kind: 'VirtualService',
    apiVersions: ISTIO_NETWORKING_VERSIONS,
    schema: S.VirtualServiceSpec,
    field: 'spec',
    strict: true,
  },
  {
    kind: 'DestinationRule',
    apiVersions: ISTIO_NETWORKING_VERSIONS,
    schema: S.DestinationRuleSpec,
    field: 'spec',
    strict: true,
  },
  {
    kind: 'ServiceEntry',
    apiVersions: ISTIO_NETWORKING_VERSIONS,
    schema: S.ServiceEntrySpec,
    field: 'spec',
    strict: true,
  },
  {
    kind: 'WorkloadEntry',
    apiVersions: ISTIO_NETWORKING_VERSIONS,
    schema: S.WorkloadEntrySpec,
    field: 'spec',
    strict: true,
  },
  { kind: 'Gateway', apiVersions: ISTIO_NETWORKING_VERSIONS, schema: S.GatewaySpec, field: 'spec', strict: true },
  { kind: 'Service', apiVersions: ['v1'], schema: S.K8sServiceSpec, field: 'spec', strict: false },
  { kind: 'Pod', apiVersions: ['v1'], schema: S.K8sPodSpec, field: 'pod', strict: false },
  {
    kind: 'EndpointSlice',
    apiVersions: ['discovery.k8s.io/v1', 'discovery.k8s.io/v1beta1'],
    schema: S.K8sEndpointSlice,
    field: 'object',
    strict: false,
  },
  { kind: 'Deployment', apiVersions: WORKLOAD_VERSIONS, schema: S.K8sWorkloadSpec, field: 'spec', strict: false },
  { kind: 'StatefulSet', apiVersions: WORKLOAD_VERSIONS, schema: S.K8sWorkloadSpec, field: 'spec', strict: false },
  { kind: 'DaemonSet', apiVersions: WORKLOAD_VERSIONS, schema: S.K8sWorkloadSpec, field: 'spec', strict: false },
  { kind: 'Canary', apiVersions: [CANARY_API_VERSION], schema: CanarySpec, field: 'spec', strict: true },
];

/** Options for {@link toResources}. */
export interface ResourceOptions {
  /** Namespace for resources that set none (istioctl's `--namespace`); default `default`. */
  defaultNamespace?: string;
  /** Report skipped kinds as info diagnostics. */
  verbose?: boolean;
  /**
   * Unknown fields (kubectl's `--validate`): `strict` (default) refuses the resource with a `WEIR0002` error, `warn`
   * drops the field with a `WEIR0002` warning, `ignore` drops it silently.
   */
  fieldValidation?: FieldValidation;
}

/** The typed resources and the diagnostics found while typing them. */
export interface ResourceSet {
  resources: Resource[];
  diagnostics: Diagnostic[];
  /** Documents of a kind weir reads, including those dropped for errors. */
  count: number;
}

/** The typed resources of one document (a `List` gives several), before duplicates across documents are dropped. */
export interface TypedDocument {
  /** Resources in document order; `order` is not set yet (see {@link dedupeResources}). */
  resources: Resource[];
  diagnostics: Diagnostic[];
  /** Objects of a kind weir reads, including those dropped for errors. */
  count: number;
  /** The document's file, and `apiVersion kind` of its top-level object (null when it has none): for `WEIR0006`. */
  source: { file: string; kind: string | null };
}

/** Converts documents to typed resources. Never throws. */
export function toResources(documents: readonly SourceDocument[], opts: ResourceOptions = {}): ResourceSet {
  const typed = documents.map((doc) => typeDocument(doc, opts));
  const deduped = dedupeResources(typed);
  const out: ResourceSet = { resources: deduped.resources, diagnostics: [], count: 0 };
  for (const t of typed) {
    out.diagnostics.push(...t.diagnostics);
    out.count += t.count;
  }
  out.diagnostics.push(...deduped.diagnostics);
  return out;
}

/**
 * Drops later definitions of a `kind/namespace/name` already defined (`WEIR0005`; the first definition is used, as
 * `kubectl apply` of the concatenated files would leave the last — weir reports the conflict instead of guessing)
 * and numbers the survivors in load order (`order`, the tie-breaker after creation time). Typed documents are
 * reused across reloads, so `order` is reassigned here on every assembly.
 */
export function dedupeResources(typed: readonly TypedDocument[]): { resources: Resource[]; diagnostics: Diagnostic[] } {
  return runToEnd(dedupeResourcesSteps(typed));
}

/** {@link dedupeResources} as steps (`util/slice.ts`): a pause point after each document. */
export function* dedupeResourcesSteps(
  typed: readonly TypedDocument[],
): Steps<{ resources: Resource[]; diagnostics: Diagnostic[] }> {
  /** Pause points are offered every few units (a generator step costs more than one unit here). */
  let stepCount = 0;
  const seen = new Map<string, Resource>();
  const resources: Resource[] = [];
  const diagnostics: Diagnostic[] = [];
  let order = 0;
  for (const t of typed) {
    for (const r of t.resources) {
      const key = `${r.kind}/${r.namespace}/${r.name}`;
      const prior = seen.get(key);
      if (prior) {
        const p = prior.locate([]);
        diagnostics.push(
          mk(
            'error',
            CODES.WEIR0005.code,
            `${r.kind} ${r.namespace}/${r.name} is defined again (first at ${p.file}:${p.line}); the first definition is used`,
            { kind: r.kind, name: r.name, namespace: r.namespace },
            '',
            r.locate([]),
          ),
        );
        continue;
      }
      seen.set(key, r);
      r.order = order++;
      resources.push(r);
    }
    if ((++stepCount & 63) === 0) yield;
  }
  return { resources, diagnostics };
}

/** Types one document: dispatch on apiVersion and kind, schema check, default namespace. Never throws. */
export function typeDocument(doc: SourceDocument, opts: ResourceOptions = {}): TypedDocument {
  const defaultNamespace = opts.defaultNamespace ?? 'default';
  const mode = opts.fieldValidation ?? 'strict';
  const top = doc.value as { apiVersion?: unknown; kind?: unknown } | null;
  const out: TypedDocument = {
    resources: [],
    diagnostics: [],
    count: 0,
    source: {
      file: doc.file,
      kind: top !== null && typeof top === 'object' ? `${String(top.apiVersion)} ${String(top.kind)}` : null,
    },
  };
  // Resources keep `doc.locate` only, not the document (nor its plain value, of which the spec is a checked copy).
  const locateIn = doc.locate;
  const visit = (value: unknown, base: (string | number)[]): void => {
    if (value === null || value === undefined) return; // empty document
    const at = (path: readonly (string | number)[], key = false): SourcePosition =>
      doc.locate([...base, ...path], { key });
    if (typeof value !== 'object' || Array.isArray(value)) {
      out.diagnostics.push(
        mk('error', CODES.WEIR0004.code, 'document is not an object with apiVersion and kind', null, '', at([])),
      );
      return;
    }
    const obj = value as Record<string, unknown>;
    const kind = obj.kind;
    const apiVersion = obj.apiVersion;
    if (typeof kind !== 'string' || typeof apiVersion !== 'string') {
      out.diagnostics.push(
        mk('error', CODES.WEIR0004.code, 'document has no string apiVersion and kind', null, '', at([])),
      );
      return;
    }
    if (kind === 'List' || kind.endsWith('List')) {
      if (Array.isArray(obj.items)) obj.items.forEach((item, i) => visit(item, [...base, 'items', i]));
      return;
    }
    const def = KINDS.find((k) => k.kind === kind && k.apiVersions.includes(apiVersion));
    // Identity first, leniently, so that every diagnostic names the resource; the metadata is checked below.
    const rawMeta = obj.metadata as Record<string, unknown> | null | undefined;
    const name = typeof rawMeta?.name === 'string' ? rawMeta.name : '';
    const namespace =
      typeof rawMeta?.namespace === 'string' && rawMeta.namespace !== '' ? rawMeta.namespace : defaultNamespace;
    const ref = { kind, name, namespace };
    if (!def) {
      const known = KINDS.find((k) => k.kind === kind);
      if (known && (apiVersion.startsWith('networking.istio.io/') || apiVersion.startsWith('weir.dev/'))) {
        out.diagnostics.push(
          mk(
            'error',
            CODES.IST0106.code,
            `unknown apiVersion "${apiVersion}" for ${kind}; use one of ${known.apiVersions.join(', ')}`,
            ref,
            'apiVersion',
            at(['apiVersion']),
          ),
        );
      } else if (opts.verbose) {
        out.diagnostics.push(
          mk(
            'info',
            CODES.WEIR0011.code,
            `skipped ${apiVersion} ${kind}: weir does not read this kind`,
            ref,
            '',
            at([]),
          ),
        );
      }
      return;
    }
    out.count++;
    const diagnostics: Diagnostic[] = [];
    const check = (schema: z.ZodType, input: unknown, prefix: (string | number)[]) => {
      const r = checkSchema(schema, input, prefix, ref, at, mode);
      diagnostics.push(...r.diagnostics);
      return r.value;
    };
    check(def.field === 'object' ? EndpointSliceEnvelope : SpecEnvelope, obj, []);
    const meta = check(ObjectMeta, rawMeta ?? {}, ['metadata']) as ObjectMeta | undefined;
    if (meta !== undefined && name === '') {
      diagnostics.push(
        mk('error', CODES.WEIR0004.code, 'metadata.name is required', ref, 'metadata.name', at(['metadata'], true)),
      );
    }
    const checkedPath: (string | number)[] = def.field === 'object' ? [] : ['spec'];
    const input = def.field === 'object' ? stripMeta(obj) : (obj.spec ?? (def.strict ? undefined : {}));
    let spec: unknown;
    if (input === undefined) diagnostics.push(mk('error', CODES.IST0106.code, 'spec is required', ref, 'spec', at([])));
    else spec = check(def.schema, input, checkedPath);
    if (spec !== undefined && def.kind === 'VirtualService') diagnostics.push(...useAltNames(spec, ref, at));
    out.diagnostics.push(...diagnostics);
    if (spec === undefined || meta === undefined || diagnostics.some((d) => d.level === 'error')) return;
    if (def.field === 'pod') {
      const st = S.K8sPodStatus.safeParse(obj.status ?? {});
      spec = { spec, status: st.success ? st.data : {} };
    }
    const created = meta.creationTimestamp;
    const createdMs =
      created instanceof Date ? created.getTime() : typeof created === 'string' ? Date.parse(created) : Number.NaN;
    const resource: Resource = {
      kind: def.kind,
      apiVersion,
      name,
      namespace,
      labels: meta.labels ?? {},
      annotations: meta.annotations ?? {},
      createdMs: Number.isFinite(createdMs) ? createdMs : null,
      order: 0,
      spec: spec as SpecByKind[Kind],
      locate: resourceLocator(locateIn, base, hasAltNames(obj) ? obj : null),
    };
    out.resources.push(resource);
  };
  visit(doc.value, []);
  return out;
}

function stripMeta(obj: Record<string, unknown>): Record<string, unknown> {
  const { apiVersion: _a, kind: _k, metadata: _m, ...rest } = obj;
  return rest;
}

function mk(
  level: Level,
  code: string,
  message: string,
  resource: Diagnostic['resource'],
  field: string,
  position: SourcePosition,
): Diagnostic {
  return { level, code, message, resource, field, position };
}

/**
 * Alternative names the CRD accepts for one proto field (`+kubebuilder:altName`), by canonical name. Both spellings
 * decode to the same field, so setting both is refused, as istiod's protojson decoder does (`duplicate field`).
 */
const ALT_NAMES: Readonly<Record<string, string>> = { mirrorPercent: 'mirror_percent' };

/** Moves `mirror_percent` of each HTTP route to `mirrorPercent` (in place); both set is an `IST0106` error. */
function useAltNames(
  spec: unknown,
  ref: Diagnostic['resource'],
  at: (path: readonly (string | number)[], key?: boolean) => SourcePosition,
): Diagnostic[] {
  const out: Diagnostic[] = [];
  ((spec as S.VirtualServiceSpec).http ?? []).forEach((route, i) => {
    if (route === null) return;
    const r = route as Record<string, unknown>;
    for (const [canonical, alt] of Object.entries(ALT_NAMES)) {
      if (r[alt] === undefined) continue;
      if (r[canonical] !== undefined) {
        const path = ['spec', 'http', i, alt];
        out.push(
          mk(
            'error',
            CODES.IST0106.code,
            `duplicate field: ${alt} is another name of ${canonical}; set only one`,
            ref,
            `spec.http[${i}].${alt}`,
            at(path, true),
          ),
        );
      } else r[canonical] = r[alt];
      delete r[alt];
    }
  });
  return out;
}

/** `path` as the document spells it: a canonical name the document writes under its alternative name is renamed. */
/**
 * A resource's `locate`: built outside {@link typeDocument} so that the closure holds only what it needs (the
 * document's locate, the resource's base path, and the raw object only when a field is spelled by its alternative
 * name), not the typing scope with the document's plain value.
 */
function resourceLocator(
  locateIn: SourceDocument['locate'],
  base: readonly (string | number)[],
  raw: Record<string, unknown> | null,
): Resource['locate'] {
  const prefix = [...base];
  return raw === null
    ? (path, o) => locateIn([...prefix, ...path], o)
    : (path, o) => locateIn([...prefix, ...spelled(raw, path)], o);
}

/** Whether an HTTP route of the object spells a field by its alternative name (then positions need the raw object). */
function hasAltNames(obj: Record<string, unknown>): boolean {
  const http = (obj.spec as { http?: unknown } | undefined)?.http;
  if (!Array.isArray(http)) return false;
  const alts = Object.values(ALT_NAMES);
  return http.some((r) => r !== null && typeof r === 'object' && alts.some((a) => a in (r as object)));
}

function spelled(raw: unknown, path: readonly (string | number)[]): (string | number)[] {
  const out: (string | number)[] = [];
  let v = raw;
  for (const seg of path) {
    let s = seg;
    if (typeof seg === 'string' && ALT_NAMES[seg] !== undefined && v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (o[seg] === undefined && o[ALT_NAMES[seg]] !== undefined) s = ALT_NAMES[seg];
    }
    out.push(s);
    v = valueAt(v, [s]);
  }
  return out;
}
