/**
 * Test helpers for the webhook-rule validators: build a small YAML resource, run the validator for its kind, and
 * check that a diagnostic points at a line marked in the YAML. Markers go at the end of a line:
 * `#=` — the value after the first `: ` on that line;
 * `#^` — the first non-blank character (a key, or the `-` where a block list starts);
 * `#-` — the list item after the leading `- ` (also where a block map inside a list starts).
 */
import { expect } from 'vitest';
import type { Diagnostic, Level } from '../../src/config/diagnostics.ts';
import { parseText } from '../../src/config/load.ts';
import type {
  DestinationRule,
  Gateway,
  Resource,
  ServiceEntry,
  VirtualService,
  WorkloadEntry,
} from '../../src/config/resources.ts';
import { toResources } from '../../src/config/resources.ts';
import { validateDestinationRule } from '../../src/config/validate/destination-rule.ts';
import { createReporter } from '../../src/config/validate/report.ts';
import {
  validateGateway,
  validateServiceEntry,
  validateWorkloadEntry,
} from '../../src/config/validate/service-entry.ts';
import { validateVirtualService } from '../../src/config/validate/virtual-service.ts';

export type ValidatedKind = 'VirtualService' | 'DestinationRule' | 'ServiceEntry' | 'WorkloadEntry' | 'Gateway';

/** Removes the common leading indentation of a template literal and a leading newline. */
export function dedent(text: string): string {
  const lines = text.replace(/^\n/, '').replace(/\s+$/, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => l.match(/^ */)![0].length));
  return lines.map((l) => l.slice(indent)).join('\n');
}

/** A resource of `kind` named `r` in namespace `ns`, with `body` (dedented) as its spec. */
export function resource(kind: ValidatedKind, body: string, metadata = '{name: r, namespace: ns}'): string {
  const spec = dedent(body)
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
  return `apiVersion: networking.istio.io/v1\nkind: ${kind}\nmetadata: ${metadata}\nspec:\n${spec}\n`;
}

/** Parses `text` (one resource), checks it has no schema errors, and runs its kind's validator. */
export function validateText(text: string): Diagnostic[] {
  const docs = parseText({ file: 't.yaml', text });
  expect(docs.diagnostics, 'YAML must parse').toEqual([]);
  const { resources, diagnostics } = toResources(docs.documents);
  expect(
    diagnostics.filter((d) => d.level === 'error'),
    'schema must accept the input',
  ).toEqual([]);
  expect(resources).toHaveLength(1);
  const r = resources[0] as Resource;
  const out: Diagnostic[] = [];
  const report = createReporter(r, out);
  switch (r.kind) {
    case 'VirtualService':
      validateVirtualService(r as VirtualService, report);
      break;
    case 'DestinationRule':
      validateDestinationRule(r as DestinationRule, report);
      break;
    case 'ServiceEntry':
      validateServiceEntry(r as ServiceEntry, report);
      break;
    case 'WorkloadEntry':
      validateWorkloadEntry(r as WorkloadEntry, report);
      break;
    case 'Gateway':
      validateGateway(r as Gateway, report);
      break;
    default:
      throw new Error(`no validator for ${r.kind}`);
  }
  return out;
}

/** The 1-based position a `#=`, `#^` or `#-` marker designates (see the module comment). */
export function markedPosition(text: string): { line: number; column: number } {
  const lines = text.split('\n');
  const idx = lines.findIndex((l) => /#[=^-]\s*$/.test(l));
  if (idx < 0) throw new Error(`no #=, #^ or #- marker in:\n${text}`);
  const line = lines[idx]!.trimEnd();
  const marker = line.slice(-2);
  const content = line.slice(0, -2).trimEnd();
  let col: number;
  if (marker === '#=') {
    if (!content.includes(': ')) throw new Error(`#= needs a "key: value" line: ${line}`);
    col = content.indexOf(': ') + 2;
  } else if (marker === '#^') col = /^\s*/.exec(content)![0].length;
  else col = /^(\s*(?:-\s+)+)/.exec(content)?.[1]?.length ?? Number.NaN;
  return { line: idx + 1, column: col + 1 };
}

/** Options of {@link expectDiagnostic}. */
export interface Expected {
  level?: Level;
  code?: string;
}

/**
 * Validates `text` and expects a diagnostic whose message contains `message`, at the marked position, with the field
 * path `field` (as users see it: `spec.http[0].timeout`; always stated, so a wrong path cannot pass), the given level
 * (default `error`) and code (default `IST0106`). Returns it.
 */
export function expectDiagnostic(text: string, message: string, field: string, opts: Expected = {}): Diagnostic {
  const out = validateText(text);
  const found = out.find((d) => d.message.includes(message));
  expect(
    found,
    `expected a diagnostic containing ${JSON.stringify(message)}; got ${JSON.stringify(
      out.map((d) => `${d.field}: ${d.message}`),
      null,
      1,
    )}`,
  ).toBeDefined();
  const d = found!;
  const pos = markedPosition(text);
  expect({ line: d.position?.line, column: d.position?.column, field: d.field }).toEqual({
    line: pos.line,
    column: pos.column,
    field,
  });
  expect(d.level).toBe(opts.level ?? 'error');
  expect(d.code).toBe(opts.code ?? 'IST0106');
  return d;
}

/** Validates `text` and expects no diagnostic at or above `level` (default: none at all). */
export function expectClean(text: string, level: Level = 'info'): void {
  const rank: Record<Level, number> = { info: 0, warning: 1, error: 2 };
  const out = validateText(text).filter((d) => rank[d.level] >= rank[level]);
  expect(out.map((d) => `${d.level} ${d.field}: ${d.message}`)).toEqual([]);
}
