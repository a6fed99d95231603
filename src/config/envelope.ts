/**
 * The envelope of every resource weir reads: its top-level fields and Kubernetes `ObjectMeta`. Both are checked
 * strictly for every kind, as the API server's strict field validation does (kubernetes/kubernetes#109494 extended it
 * to the metadata of custom resources): `metdata:` or `metadata.lables` is an unknown field. The spec is checked by
 * the kind's own schema (`istio/schemas.ts`, `weir/canary.ts`); Kubernetes kinds model only what weir reads of their
 * spec, so their spec is not checked for unknown fields (see docs/diagnostics.md, WEIR0002).
 */
import { z } from 'zod';
import { INT_MARKER } from './istio/schemas.ts';

const str = z.string();
const int = z.number({ error: () => INT_MARKER }).int({ error: () => INT_MARKER });
const strMap = z.record(z.string(), z.string());
/** RFC 3339 time; YAML 1.1 reads an unquoted one as a timestamp (a Date). kubectl writes `null` when unset. */
const time = z.union([str, z.date()]).nullable();
const opt = <T extends z.ZodType>(t: T) => t.nullable().optional();

/** Kubernetes `OwnerReference` (meta/v1). */
const OwnerReference = z.strictObject({
  apiVersion: opt(str),
  kind: opt(str),
  name: opt(str),
  uid: opt(str),
  controller: opt(z.boolean()),
  blockOwnerDeletion: opt(z.boolean()),
});

/** Kubernetes `ManagedFieldsEntry` (meta/v1); `fieldsV1` is free-form. */
const ManagedFieldsEntry = z.strictObject({
  manager: opt(str),
  operation: opt(str),
  apiVersion: opt(str),
  time: time.optional(),
  fieldsType: opt(str),
  fieldsV1: opt(z.record(z.string(), z.unknown())),
  subresource: opt(str),
});

/**
 * Kubernetes `ObjectMeta` (k8s.io/apimachinery `meta/v1`), every field, strict. A JSON `null` is accepted for any of
 * them, as the API server's decoder takes it for "unset".
 */
export const ObjectMeta = z.strictObject({
  name: opt(str),
  generateName: opt(str),
  namespace: opt(str),
  selfLink: opt(str),
  uid: opt(str),
  resourceVersion: opt(str),
  generation: opt(int),
  creationTimestamp: time.optional(),
  deletionTimestamp: time.optional(),
  deletionGracePeriodSeconds: opt(int),
  labels: opt(strMap),
  annotations: opt(strMap),
  ownerReferences: opt(z.array(OwnerReference)),
  finalizers: opt(z.array(str)),
  managedFields: opt(z.array(ManagedFieldsEntry)),
});
export type ObjectMeta = z.infer<typeof ObjectMeta>;

const any = z.unknown().optional();

/**
 * The top level of a resource with a spec: Istio's CRDs (only `status` preserves unknown fields), weir's Canary and
 * the Kubernetes kinds weir reads (Service, Pod, Deployment, StatefulSet, DaemonSet). The parts are checked on their
 * own; this only finds unknown top-level fields (`specs:`).
 */
export const SpecEnvelope = z.strictObject({ apiVersion: any, kind: any, metadata: any, spec: any, status: any });

/** The top level of a discovery.k8s.io `EndpointSlice`, which has no spec. */
export const EndpointSliceEnvelope = z.strictObject({
  apiVersion: any,
  kind: any,
  metadata: any,
  addressType: any,
  endpoints: any,
  ports: any,
});
