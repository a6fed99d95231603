/**
 * Turns loaded documents into typed resources: dispatches on `apiVersion` + `kind`, checks each spec against its
 * schema (type errors → `IST0106`, unknown fields → `WEIR0002` warnings, as Kubernetes' strict decoding warns),
 * applies the default namespace, and drops duplicates. Kinds weir does not read are skipped (an info line with
 * `verbose`). Pure: no I/O.
 */
import type { z } from 'zod';
import { CODES, type Diagnostic, formatPath, type Level, type SourcePosition } from './diagnostics.ts';
import * as S from './istio/schemas.ts';
import type { SourceDocument } from './load.ts';
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
  }
  return { resources, diagnostics };
}

/** Types one document: dispatch on apiVersion and kind, schema check, default namespace. Never throws. */
export function typeDocument(doc: SourceDocument, opts: ResourceOptions = {}): TypedDocument {
  const defaultNamespace = opts.defaultNamespace ?? 'default';
  const out: TypedDocument = { resources: [], diagnostics: [], count: 0 };
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
    const metaParse = S.ObjectMeta.safeParse(obj.metadata ?? {});
    const meta = metaParse.success ? metaParse.data : {};
    const name = typeof meta.name === 'string' ? meta.name : '';
    const namespace = typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : defaultNamespace;
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
    if (!metaParse.success || name === '') {
      out.diagnostics.push(
        mk('error', CODES.WEIR0004.code, 'metadata.name is required', ref, 'metadata.name', at(['metadata'], true)),
      );
      return;
    }
    const checkedPath: (string | number)[] = def.field === 'object' ? [] : ['spec'];
    const input = def.field === 'object' ? stripMeta(obj) : (obj.spec ?? (def.strict ? undefined : {}));
    if (input === undefined) {
      out.diagnostics.push(mk('error', CODES.IST0106.code, 'spec is required', ref, 'spec', at([])));
      return;
    }
    const checked = checkSchema(def.schema, input, checkedPath, ref, at, def.strict);
    out.diagnostics.push(...checked.diagnostics);
    if (checked.value === undefined) return;
    let spec: unknown = checked.value;
    if (def.field === 'pod') {
      const st = S.K8sPodStatus.safeParse(obj.status ?? {});
      spec = { spec: checked.value, status: st.success ? st.data : {} };
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
      locate: (path, o) => doc.locate([...base, ...path], o),
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
 * Checks `input` against `schema`. Unknown keys become warnings and are removed before a second parse, so a
 * resource whose only fault is an unknown field is still used. Any other issue is an `IST0106` error and the
 * resource is dropped (`value` undefined), as the API server would refuse it.
 */
function checkSchema(
  schema: z.ZodType,
  input: unknown,
  prefix: (string | number)[],
  ref: Diagnostic['resource'],
  at: (path: readonly (string | number)[], key?: boolean) => SourcePosition,
  strict: boolean,
): { value: unknown; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  let data = input;
  for (let round = 0; round < 2; round++) {
    const r = schema.safeParse(data);
    if (r.success) return { value: r.data, diagnostics };
    const unknown = r.error.issues.filter((i) => i.code === 'unrecognized_keys');
    const others = r.error.issues.filter((i) => i.code !== 'unrecognized_keys');
    if (round === 0 && strict) {
      for (const issue of unknown) {
        for (const k of (issue as { keys: string[] }).keys) {
          const path = [...prefix, ...(issue.path as (string | number)[]), k];
          diagnostics.push(
            mk('warning', CODES.WEIR0002.code, `unknown field "${k}"`, ref, formatPath(path), at(path, true)),
          );
        }
      }
    }
    if (others.length > 0) {
      for (const issue of others) {
        const path = [...prefix, ...(issue.path as (string | number)[])];
        diagnostics.push(
          mk(
            'error',
            CODES.IST0106.code,
            describeIssue(issue, valueAt(input, issue.path as (string | number)[])),
            ref,
            formatPath(path),
            at(path),
          ),
        );
      }
      return { value: undefined, diagnostics };
    }
    data = structuredClone(data);
    for (const issue of unknown) {
      const parent = valueAt(data, issue.path as (string | number)[]);
      if (parent && typeof parent === 'object')
        for (const k of (issue as { keys: string[] }).keys) delete (parent as Record<string, unknown>)[k];
    }
  }
  return { value: undefined, diagnostics };
}

function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number' && !Number.isInteger(v)) return `number ${v}`;
  return `${typeof v} ${String(v)}`;
}

function describeIssue(issue: z.core.$ZodIssue, got: unknown): string {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.message === S.INT_MARKER) return `expected an integer, got ${typeName(got)}`;
      const expected =
        issue.expected === 'int'
          ? 'an integer'
          : issue.expected === 'record' || issue.expected === 'object'
            ? 'an object'
            : issue.expected === 'array'
              ? 'a list'
              : `a ${issue.expected}`;
      return `expected ${expected}, got ${typeName(got)}`;
    }
    case 'invalid_value':
      return `got ${typeName(got)}; expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union':
      return `got ${typeName(got)}, which is not a valid value here`;
    case 'too_big':
    case 'too_small':
      return issue.message;
    default:
      return issue.message;
  }
}
