/**
 * The reporting seam shared by all webhook-rule validators: a validator walks one resource and calls
 * `report(path, message)` for each problem. Paths are relative to the resource root (`['spec','http',0,'timeout']`).
 */
import { CODES, type Diagnostic, formatPath, type Level } from '../diagnostics.ts';
import type { Resource } from '../resources.ts';

/** Options of one report: level (default `error`), code (default `IST0106`), and whether to point at the map key. */
export interface ReportOptions {
  level?: Level;
  code?: string;
  key?: boolean;
}

/** Called by validators once per problem. */
export type Report = (path: readonly (string | number)[], message: string, opts?: ReportOptions) => void;

/** Creates a {@link Report} that appends diagnostics about `resource` to `out`. */
export function createReporter(resource: Resource, out: Diagnostic[]): Report {
  const ref = { kind: resource.kind, name: resource.name, namespace: resource.namespace };
  return (path, message, opts = {}) => {
    out.push({
      level: opts.level ?? 'error',
      code: opts.code ?? CODES.IST0106.code,
      message,
      resource: ref,
      field: formatPath(path),
      position: resource.locate(path, { key: opts.key === true }),
    });
  };
}
