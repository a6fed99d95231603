/**
 * `weir validate [PATH ...] [-f PATH ...]`: istiod's webhook rules and `istioctl analyze` checks over the given
 * files, with file:line:column and Istio's codes. Exit 0 when nothing is at or above `--fail-on`, 79 otherwise.
 */
import { LEVEL_RANK, type Level } from '../../config/diagnostics.ts';
import type { FieldValidation } from '../../config/schema-check.ts';
import { loadSnapshot } from '../../config/snapshot.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { diagnosticJson, printDiagnostics } from '../output.ts';

/** Options of `weir validate`. */
export interface ValidateOptions {
  paths: string[];
  namespace: string;
  output: 'text' | 'json';
  failOn: Level;
  verbose: boolean;
  /** Unknown fields: kubectl's `--validate` (default `strict`). */
  fieldValidation?: FieldValidation;
}

/** Runs the command; returns the exit code. */
export async function runValidate(opts: ValidateOptions): Promise<number> {
  if (opts.paths.length === 0) throw new CliError('no input: give files or directories (or - for stdin)', EXIT.USAGE);
  const snap = await loadSnapshot(opts.paths, {
    defaultNamespace: opts.namespace,
    verbose: opts.verbose,
    fieldValidation: opts.fieldValidation ?? 'strict',
  });
  const diags = snap.diagnostics;
  const failing = diags.some((d) => LEVEL_RANK[d.level] >= LEVEL_RANK[opts.failOn]);
  if (opts.output === 'json') {
    process.stdout.write(
      `${JSON.stringify({ resources: snap.resourceCount, diagnostics: diags.map(diagnosticJson) }, null, 2)}\n`,
    );
  } else {
    printDiagnostics(diags, process.stdout);
    const counts = { error: 0, warning: 0, info: 0 };
    for (const d of diags) counts[d.level]++;
    const summary =
      diags.length === 0
        ? `✔ No validation issues found in ${snap.resourceCount} resource${snap.resourceCount === 1 ? '' : 's'}.`
        : `${snap.resourceCount} resource${snap.resourceCount === 1 ? '' : 's'}: ${counts.error} error${counts.error === 1 ? '' : 's'}, ${counts.warning} warning${counts.warning === 1 ? '' : 's'}, ${counts.info} info.`;
    process.stderr.write(`${summary}\n`);
  }
  return failing ? EXIT.ANALYSIS : EXIT.OK;
}
