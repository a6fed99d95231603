/** Renderers shared by the commands: diagnostics as compiler-style lines or JSON. Colour only on a TTY. */
import type { Diagnostic } from '../config/diagnostics.ts';

const useColour = (stream: NodeJS.WriteStream): boolean => stream.isTTY === true && !process.env.NO_COLOR;

/** `file:line:col level CODE Kind ns/name field: message`, like a compiler. */
export function formatDiagnosticLine(d: Diagnostic, colour = false): string {
  const pos = d.position ? `${d.position.file}:${d.position.line}:${d.position.column}` : '-';
  const res = d.resource ? `${d.resource.kind} ${d.resource.namespace}/${d.resource.name}` : '-';
  const field = d.field ? ` ${d.field}` : '';
  let level: string = d.level;
  if (colour)
    level =
      d.level === 'error'
        ? `\x1b[31m${level}\x1b[0m`
        : d.level === 'warning'
          ? `\x1b[33m${level}\x1b[0m`
          : `\x1b[36m${level}\x1b[0m`;
  return `${pos} ${level} ${d.code} ${res}${field}: ${d.message}`;
}

/** The JSON shape of one diagnostic (documented in README/docs/diagnostics.md). */
export function diagnosticJson(d: Diagnostic): Record<string, unknown> {
  return {
    level: d.level,
    code: d.code,
    message: d.message,
    resource: d.resource,
    field: d.field,
    file: d.position?.file ?? null,
    line: d.position?.line ?? null,
    column: d.position?.column ?? null,
  };
}

/** Writes diagnostics as text lines to `stream`. */
export function printDiagnostics(list: readonly Diagnostic[], stream: NodeJS.WriteStream): void {
  const colour = useColour(stream);
  for (const d of list) stream.write(`${formatDiagnosticLine(d, colour)}\n`);
}
