/**
 * Checks one part of a document (a spec, the metadata, the top level) against its zod schema, as the Kubernetes API
 * server does for a structural CRD: a value of the wrong type is an `IST0106` error, and an unknown field is handled
 * by the field validation mode — the API server's `fieldValidation` (`Strict`, `Warn`, `Ignore`), which is
 * kubectl's `--validate=strict|warn|ignore` (strict by default since Kubernetes 1.25): `strict` refuses the object
 * with `strict decoding error: unknown field "spec.http[0].matches"`, `warn` drops the field with a warning, `ignore`
 * drops it silently. Pure: no I/O.
 */
import type { z } from 'zod';
import { didYouMean } from '../util/did-you-mean.ts';
import { CODES, type Diagnostic, formatPath, type SourcePosition } from './diagnostics.ts';
import { INT_MARKER } from './istio/schemas.ts';

/** How unknown fields are treated: as kubectl's `--validate` (the API server's `fieldValidation`). */
export type FieldValidation = 'strict' | 'warn' | 'ignore';

/** The field validation modes, in kubectl's spelling. */
export const FIELD_VALIDATION_MODES: readonly FieldValidation[] = ['strict', 'warn', 'ignore'];

type Path = (string | number)[];

/** The outcome of {@link checkSchema}: the parsed value (undefined when refused) and the diagnostics. */
export interface SchemaCheck {
  value: unknown;
  diagnostics: Diagnostic[];
}

/**
 * Checks `input` against `schema`; `prefix` is where `input` sits in the resource (e.g. `['spec']`), `at` maps a
 * resource path to a source position. Unknown keys of strict objects follow `mode` (see the module comment); with
 * `warn` and `ignore` they are removed and the input parsed again, so a resource whose only fault is an unknown field
 * is still used. Any other issue is an `IST0106` error. `value` is undefined when any error was reported.
 */
export function checkSchema(
  schema: z.ZodType,
  input: unknown,
  prefix: Path,
  ref: Diagnostic['resource'],
  at: (path: readonly (string | number)[], key?: boolean) => SourcePosition,
  mode: FieldValidation,
): SchemaCheck {
  const diagnostics: Diagnostic[] = [];
  let data = input;
  for (let round = 0; round < 2; round++) {
    const r = schema.safeParse(data);
    if (r.success) return { value: r.data, diagnostics };
    const unknown = r.error.issues.filter((i) => i.code === 'unrecognized_keys');
    const others = r.error.issues.filter((i) => i.code !== 'unrecognized_keys');
    if (round === 0 && mode !== 'ignore') {
      for (const issue of unknown) {
        const parent = issue.path as Path;
        const known = knownKeys(schema, parent);
        for (const k of (issue as { keys: string[] }).keys) {
          const path = [...prefix, ...parent, k];
          const full = formatPath(path);
          const guess = didYouMean(k, known);
          const hint = guess === null ? '' : ` (did you mean "${guess}"?)`;
          diagnostics.push(
            mode === 'strict'
              ? mk('error', `strict decoding error: unknown field "${full}"${hint}`, full, at(path, true))
              : mk('warning', `unknown field "${full}"${hint}; the field is ignored`, full, at(path, true)),
          );
        }
      }
    }
    for (const issue of others) {
      const path = [...prefix, ...(issue.path as Path)];
      diagnostics.push({
        level: 'error',
        code: CODES.IST0106.code,
        message: describeIssue(issue, valueAt(input, issue.path as Path)),
        resource: ref,
        field: formatPath(path),
        position: at(path),
      });
    }
    if (others.length > 0 || (unknown.length > 0 && mode === 'strict')) return { value: undefined, diagnostics };
    data = structuredClone(data);
    for (const issue of unknown) {
      const parent = valueAt(data, issue.path as Path);
      if (parent && typeof parent === 'object')
        for (const k of (issue as { keys: string[] }).keys) delete (parent as Record<string, unknown>)[k];
    }
  }
  return { value: undefined, diagnostics };

  function mk(level: 'error' | 'warning', message: string, field: string, position: SourcePosition): Diagnostic {
    return { level, code: CODES.WEIR0002.code, message, resource: ref, field, position };
  }
}

/** The schema's `def`, as zod 4 exposes it. */
interface Def {
  type: string;
  innerType?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  options?: readonly z.ZodType[];
  shape?: Record<string, z.ZodType>;
}
const defOf = (s: z.ZodType): Def => (s as unknown as { def: Def }).def;

/** Unwraps optional, nullable and default wrappers. */
function unwrap(s: z.ZodType): z.ZodType {
  let cur = s;
  for (let i = 0; i < 16; i++) {
    const d = defOf(cur);
    if ((d.type === 'optional' || d.type === 'nullable' || d.type === 'default') && d.innerType) cur = d.innerType;
    else break;
  }
  return cur;
}

/**
 * The field names of the object schema found by following `path` (keys, list indexes, map keys) from `schema`;
 * empty when the path leads to no object schema. Used for "did you mean" suggestions.
 */
export function knownKeys(schema: z.ZodType, path: readonly (string | number)[]): string[] {
  let cur: z.ZodType | undefined = schema;
  for (const seg of path) {
    if (cur === undefined) return [];
    cur = step(unwrap(cur), seg);
  }
  if (cur === undefined) return [];
  const d = defOf(unwrap(cur));
  if (d.type === 'object' && d.shape) return Object.keys(d.shape);
  if (d.type === 'union')
    for (const o of d.options ?? []) if (defOf(unwrap(o)).type === 'object') return knownKeys(o, []);
  return [];
}

function step(s: z.ZodType, seg: string | number): z.ZodType | undefined {
  const d = defOf(s);
  switch (d.type) {
    case 'object':
      return typeof seg === 'string' ? d.shape?.[seg] : undefined;
    case 'array':
      return d.element;
    case 'record':
      return d.valueType;
    case 'union':
      for (const o of d.options ?? []) {
        const next = step(unwrap(o), seg);
        if (next !== undefined) return next;
      }
      return undefined;
    default:
      return undefined;
  }
}

/** The value at `path` inside `root`, or undefined. */
export function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
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
      if (issue.message === INT_MARKER) return `expected an integer, got ${typeName(got)}`;
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
    default:
      return issue.message;
  }
}
