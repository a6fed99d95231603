/**
 * The `weir` command line: one sub-command per file in `commands/`. Maps failures to istioctl-style exit codes
 * (0 ok, 79 issues found, 64 bad usage, 1 internal error). Nothing imports this module but `bin/weir.js`.
 */
import { Command, CommanderError, Option } from 'commander';
import type { Level } from '../config/diagnostics.ts';
import { PathNotFoundError } from '../config/load.ts';
import { runValidate } from './commands/validate.ts';
import { CliError, EXIT } from './exit-codes.ts';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Builds the commander program. Actions store their exit code in `result`. */
function buildProgram(result: { code: number }): Command {
  const program = new Command('weir')
    .description(
      "Istio's traffic management for canary releases: validate, explain and serve VirtualServices and DestinationRules",
    )
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });

  program
    .command('validate')
    .description("check Istio resources as istiod's webhook and `istioctl analyze` would")
    .argument('[paths...]', 'files or directories (recursive: *.yaml, *.yml, *.json); - for stdin')
    .option('-f, --filename <path>', 'file or directory (repeatable)', collect, [] as string[])
    .option('-n, --namespace <ns>', 'namespace for resources that set none', 'default')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addOption(
      new Option('--fail-on <level>', 'exit 79 when a diagnostic is at or above this level')
        .choices(['error', 'warning', 'info'])
        .default('error'),
    )
    .option('-v, --verbose', 'also report resources weir skips', false)
    .action(
      async (
        paths: string[],
        o: { filename: string[]; namespace: string; output: 'text' | 'json'; failOn: Level; verbose: boolean },
      ) => {
        result.code = await runValidate({
          paths: [...paths, ...o.filename],
          namespace: o.namespace,
          output: o.output,
          failOn: o.failOn,
          verbose: o.verbose,
        });
      },
    );

  return program;
}

/**
 * Runs the CLI with `argv` (as `process.argv`: node, script, args…) and returns the exit code.
 * Never throws; unexpected errors are reported as internal errors (exit 1).
 */
export async function main(argv: readonly string[]): Promise<number> {
  const result = { code: EXIT.OK as number };
  const program = buildProgram(result);
  try {
    await program.parseAsync([...argv]);
    return result.code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
        return EXIT.OK;
      return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    if (err instanceof PathNotFoundError) {
      process.stderr.write(`weir: ${err.message}\n`);
      return EXIT.USAGE;
    }
    if (err instanceof CliError) {
      process.stderr.write(`weir: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`weir: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.INTERNAL;
  }
}
