/**
 * The "Exit codes:" section of every command's `--help`: what each exit code of that command means (istioctl's
 * codes, `exit-codes.ts`, plus the rollout outcomes and the shell's 128 + signal). One table per command path
 * (`validate`, `rollout run`, …) so the codes sit beside each other for review; `addExitCodeHelp` attaches them.
 */
import type { Command } from 'commander';
import { EXIT } from './exit-codes.ts';

/** One exit code and what it means for the command; a null code is a note line. */
type Row = readonly [code: number | null, meaning: string];

const INTERNAL: Row = [EXIT.INTERNAL, 'internal error (a bug in weir)'];
const ROLLOUT_RUN: readonly Row[] = [
  [EXIT.OK, 'promoted'],
  [EXIT.ROLLED_BACK, 'rolled back, or aborted'],
  [EXIT.INCONCLUSIVE, 'inconclusive, or paused (weir rollout resume continues it)'],
  [
    EXIT.USAGE,
    'bad usage, or the rollout cannot start (an invalid Canary, a VirtualService that cannot be found or rolled out, another controller on it, a metrics source that never answers); nothing was changed',
  ],
  [EXIT.INTERNAL, 'the rollout stopped on an internal error; its status is kept (weir rollout resume continues it)'],
  [130, 'interrupted by SIGINT (Ctrl-C) before the end; resumable (143 for SIGTERM)'],
];

/** Exit codes by command path (sub-command names joined by a space; '' is `weir` itself). */
export const EXIT_CODES: Readonly<Record<string, readonly Row[]>> = {
  '': [
    [EXIT.OK, 'success'],
    [EXIT.ANALYSIS, 'the configuration has issues (validate, explain, serve)'],
    [EXIT.USAGE, 'bad usage: unknown command or flag, bad value, a path that does not exist'],
    INTERNAL,
    [null, "Each command's --help lists its own codes (weir rollout run: 3 rolled back, 4 inconclusive)."],
  ],
  validate: [
    [EXIT.OK, 'no diagnostic at or above --fail-on'],
    [EXIT.ANALYSIS, "a diagnostic at or above --fail-on (istioctl's analysis-found-issues code)"],
    [EXIT.USAGE, 'bad usage: unknown flag or value, no input, a path that does not exist'],
    INTERNAL,
  ],
  explain: [
    [EXIT.OK, 'the request was explained (also when Istio would answer it locally, e.g. 404 NR or 503 NC)'],
    [EXIT.ANALYSIS, 'the configuration has errors istiod would reject (syntax, schema, webhook); nothing explained'],
    [EXIT.USAGE, 'bad usage: bad URL, header or flag value, no -f, a path that does not exist'],
    INTERNAL,
  ],
  serve: [
    [EXIT.OK, 'stopped by SIGTERM or SIGINT after draining in-flight requests'],
    [EXIT.ANALYSIS, 'the configuration has errors at start; nothing was served'],
    [EXIT.USAGE, 'bad usage: bad flag value, no configuration, a listener address that cannot be bound'],
    [EXIT.INTERNAL, 'internal error, or the drain failed'],
  ],
  backend: [
    [EXIT.OK, 'stopped by SIGTERM or SIGINT'],
    [EXIT.USAGE, 'bad usage: bad flag value, an address that cannot be bound'],
    INTERNAL,
  ],
  demo: [
    [EXIT.OK, 'every check passed'],
    [1, 'a check failed (or an internal error)'],
    [EXIT.USAGE, 'bad usage: bad flag value, a non-loopback address'],
    [130, 'interrupted (Ctrl-C or SIGTERM) before the end'],
  ],
  rollout: [
    [EXIT.OK, 'this help was shown'],
    [EXIT.USAGE, 'bad usage: unknown command or flag'],
    [null, "Each command's --help lists its own codes (run and resume: 0 promoted, 3 rolled back, 4 inconclusive)."],
  ],
  'rollout run': ROLLOUT_RUN,
  'rollout resume': ROLLOUT_RUN.map(
    ([code, meaning]): Row => (code === EXIT.USAGE ? [code, `${meaning}; also: nothing to resume`] : [code, meaning]),
  ),
  'rollout status': [
    [EXIT.OK, 'the status was printed (also when the Canary has not run yet)'],
    [EXIT.USAGE, 'bad usage: no such file, not exactly one valid Canary, an unreadable status file'],
    INTERNAL,
  ],
  'rollout promote': [
    [EXIT.OK, 'promoted: 100 % to the canary'],
    [EXIT.USAGE, 'bad usage, the rollout already ended (--force acts anyway), or an unreadable status file'],
    [EXIT.INTERNAL, 'a running controller did not act within 10 s (the request is withdrawn), or internal error'],
  ],
  'rollout abort': [
    [EXIT.OK, 'aborted: 100 % to the primary (directly when a running controller does not act within 10 s)'],
    [EXIT.USAGE, 'bad usage, or the rollout already ended (--force acts anyway)'],
    INTERNAL,
  ],
  'rollout simulate': [
    [EXIT.OK, 'the report was printed'],
    [EXIT.USAGE, 'bad usage: bad flag value, an invalid Canary or one without weighted steps'],
    INTERNAL,
  ],
};

/** Width the section is wrapped to (commander wraps the rest of the help to the terminal, 80 off a terminal). */
const WIDTH = 80;

/** The "Exit codes:" section for `rows`, wrapped to {@link WIDTH} columns with a hanging indent. */
export function exitCodesText(rows: readonly Row[]): string {
  const lines: string[] = [];
  for (const [code, meaning] of rows) {
    const first = code === null ? '  ' : `  ${String(code).padEnd(5)}`;
    const indent = ' '.repeat(first.length);
    let line = first;
    for (const word of meaning.split(' ')) {
      if (line.length > indent.length && line.length + 1 + word.length > WIDTH) {
        lines.push(line);
        line = indent + word;
      } else line += line === first ? word : ` ${word}`;
    }
    lines.push(line);
  }
  return `\nExit codes:\n${lines.join('\n')}\n`;
}

/** The path of `cmd` under the root program: sub-command names joined by a space ('' for the root). */
function pathOf(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Appends the "Exit codes:" section to the help of `program` and of every sub-command that has an entry in
 * {@link EXIT_CODES} (a command without one gets none; test/e2e/cli-help.test.ts fails on it).
 */
export function addExitCodeHelp(program: Command): void {
  const visit = (cmd: Command): void => {
    const rows = EXIT_CODES[pathOf(cmd)];
    if (rows) cmd.addHelpText('after', exitCodesText(rows));
    for (const sub of cmd.commands) visit(sub);
  };
  visit(program);
}
