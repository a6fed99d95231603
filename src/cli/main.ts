/**
 * The `weir` command line: one sub-command per file in `commands/`. Maps failures to istioctl-style exit codes
 * (0 ok, 79 issues found, 64 bad usage, 1 internal error). Nothing imports this module but `bin/weir.js`.
 */
import { Command, CommanderError, Option } from 'commander';
import type { Level } from '../config/diagnostics.ts';
import { PathNotFoundError } from '../config/load.ts';
import type { FieldValidation } from '../config/schema-check.ts';
import { PATTERN_NAMES } from '../demo/types.ts';
import { parseFraction, parseHttpStatus, parseNonNegativeInt, runBackend } from './commands/backend.ts';
import { runExplain } from './commands/explain.ts';
import { type RolloutSimulateOptions, runRolloutSimulate } from './commands/rollout.ts';
import {
  DEFAULT_ADMIN_URL,
  type RolloutActOptions,
  type RolloutRunOptions,
  type RolloutStatusOptions,
  runRolloutAct,
  runRolloutRun,
  runRolloutStatus,
} from './commands/rollout-run.ts';
import { parseDrainTimeout, parseLabels, runServe } from './commands/serve.ts';
import { runValidate } from './commands/validate.ts';
import { CliError, EXIT } from './exit-codes.ts';
import { addExitCodeHelp } from './help.ts';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/**
 * kubectl's `--validate` for unknown fields: `strict` (default; an error, as `kubectl apply` since Kubernetes 1.25),
 * `warn` (a warning, the field is ignored) or `ignore`; kubectl's `true` and `false` mean `strict` and `ignore`.
 */
const validateOption = (): Option =>
  new Option(
    '--validate <mode>',
    'unknown fields: strict (an error, as kubectl apply), warn (ignored with a warning), ignore',
  )
    .choices(['strict', 'warn', 'ignore', 'true', 'false'])
    .default('strict');
const fieldValidationOf = (mode: string): FieldValidation =>
  mode === 'true' ? 'strict' : mode === 'false' ? 'ignore' : (mode as FieldValidation);

/** Builds the commander program. Actions store their exit code in `result`. */
function buildProgram(result: { code: number }): Command {
  const program = new Command('weir')
    .description(
      "Istio's traffic management for canary releases: validate, explain and serve VirtualServices and DestinationRules",
    )
    .version('0.1.0')
    .enablePositionalOptions()
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
    .addOption(validateOption())
    .action(
      async (
        paths: string[],
        o: {
          filename: string[];
          namespace: string;
          output: 'text' | 'json';
          failOn: Level;
          verbose: boolean;
          validate: string;
        },
      ) => {
        result.code = await runValidate({
          paths: [...paths, ...o.filename],
          namespace: o.namespace,
          output: o.output,
          failOn: o.failOn,
          verbose: o.verbose,
          fieldValidation: fieldValidationOf(o.validate),
        });
      },
    );

  program
    .command('explain')
    .description('show how the routing engine decides one request: routes tried, route taken, destinations, policies')
    .argument('<url>', 'request URL, e.g. http://checkout-service.prod.svc.cluster.local/cart')
    .option('-f, --filename <path>', 'configuration file or directory (repeatable)', collect, [] as string[])
    .option('-X, --request <method>', 'HTTP method', 'GET')
    .option('-H, --header <header>', "request header 'Name: value' (repeatable; Host sets the authority)", collect, [])
    .option('--source-labels <labels>', 'labels of the source workload, k=v,k2=v2')
    .option('--source-namespace <ns>', 'namespace of the source workload')
    .option('--source-ip <ip>', 'source address; alone, resolves the workload from the registry')
    .option('--port <n>', "service port the request was sent to (default: the URL's port, else 80)")
    .option('--gateway <ns/name>', 'decide as this ingress Gateway instead of a sidecar')
    .option('--namespace <ns>', "the proxy's namespace (default: the source namespace, else default)")
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addOption(validateOption())
    .action(async (url: string, o: Record<string, string | string[] | undefined>) => {
      result.code = await runExplain({
        url,
        files: o.filename as string[],
        method: o.request as string,
        headers: o.header as string[],
        sourceLabels: o.sourceLabels as string | undefined,
        sourceNamespace: o.sourceNamespace as string | undefined,
        sourceIp: o.sourceIp as string | undefined,
        port: o.port as string | undefined,
        gateway: o.gateway as string | undefined,
        namespace: o.namespace as string | undefined,
        output: o.output as 'text' | 'json',
        fieldValidation: fieldValidationOf(o.validate as string),
      });
    });

  program
    .command('serve')
    .description('run the proxy: route real HTTP traffic by the VirtualServices and DestinationRules given')
    .option(
      '-f, --filename <path>',
      'configuration file or directory (repeatable; watched for changes)',
      collect,
      [] as string[],
    )
    .option('--listen <host:port>', 'proxy listener', '127.0.0.1:15001')
    .option(
      '--admin <host:port>',
      'admin listener (/ready, /config_dump, /clusters, /stats/prometheus)',
      '127.0.0.1:15000',
    )
    .option('-n, --namespace <ns>', "the proxy's namespace (short names, DestinationRule lookup)", 'default')
    .option('--workload <name>', "sidecar mode: the proxy's own workload name (source of every request)")
    .option('--labels <k=v,...>', "sidecar mode: the proxy's own workload labels (sourceLabels matching)")
    .option('--gateway <ns/name>', 'act as this ingress Gateway instead of a sidecar')
    .option('--locality <region/zone/subzone>', "the proxy's locality (locality-prioritised load balancing)")
    .addOption(
      new Option('--log-format <format>', 'access log format').choices(['text', 'json', 'off']).default('text'),
    )
    .option('--shadow-suffix', "append -shadow to mirrored requests' Host (Envoy and Istio < 1.28)", true)
    .option('--no-shadow-suffix', 'keep the Host of mirrored requests unchanged (Istio >= 1.28)')
    .addOption(validateOption())
    .option(
      '--drain-timeout <duration>',
      "on SIGTERM/SIGINT, how long to keep serving and wait for open connections before cutting the requests still in flight, as a duration (e.g. 5s, 500ms; Istio's terminationDrainDuration)",
      '5s',
    )
    .argument('[paths...]', 'configuration files or directories (same as -f)')
    .action(
      async (
        paths: string[],
        o: {
          filename: string[];
          listen: string;
          admin: string;
          namespace: string;
          workload?: string;
          labels?: string;
          gateway?: string;
          locality?: string;
          logFormat: 'text' | 'json' | 'off';
          shadowSuffix: boolean;
          validate: string;
          drainTimeout: string;
        },
      ) => {
        result.code = await runServe({
          paths: [...paths, ...o.filename],
          listen: o.listen,
          admin: o.admin,
          namespace: o.namespace,
          workload: o.workload ?? null,
          labels: o.labels ? parseLabels(o.labels, '--labels') : null,
          gateway: o.gateway ?? null,
          logFormat: o.logFormat,
          shadowSuffix: o.shadowSuffix,
          locality: o.locality ?? null,
          fieldValidation: fieldValidationOf(o.validate),
          drainTimeoutMs: parseDrainTimeout(o.drainTimeout),
        });
      },
    );

  program
    .command('backend')
    .description('run a test upstream that reports its name/version and injects errors, latency and faults')
    .option('--listen <host:port>', 'address to listen on (port 0 = ephemeral)', '127.0.0.1:0')
    .option('--name <name>', 'service name reported in responses', 'checkout-service')
    .option('--version <version>', 'version reported in responses and x-backend-version', 'v1')
    .option('--latency-ms <ms>', 'fixed latency added to every response (ms)', parseNonNegativeInt)
    .option('--error-rate <fraction>', 'fraction 0..1 of requests answered with --error-status', parseFraction)
    .option('--error-status <status>', 'status of injected errors (200..599)', parseHttpStatus)
    .option('--seed <n>', 'RNG seed for reproducible error draws', parseNonNegativeInt)
    .option('--response-bytes <bytes>', 'pad response bodies to this size (bytes)', parseNonNegativeInt)
    .option('--allow-control-headers', 'honour x-backend-delay-ms / x-backend-status request headers', false)
    .action(
      async (o: {
        listen: string;
        name: string;
        version: string;
        latencyMs?: number;
        errorRate?: number;
        errorStatus?: number;
        seed?: number;
        responseBytes?: number;
        allowControlHeaders: boolean;
      }) => {
        result.code = await runBackend(o);
      },
    );

  program
    .command('demo')
    .description("show the article's canary patterns working: real backends, the proxy on examples/, live traffic")
    .option('--duration <seconds>', 'traffic time per pattern', '3')
    .option('--rps <n>', 'requests per second per pattern (bounded concurrency)', '200')
    .addOption(new Option('--pattern <name>', 'run one pattern').choices([...PATTERN_NAMES, 'all']).default('all'))
    .option('--keep', 'keep the proxy and backends running afterwards and print curl commands (Ctrl-C stops)', false)
    .option('--listen <host:port>', 'proxy listener (default 127.0.0.1:15001 if free, else ephemeral)')
    .option('--admin <host:port>', 'admin listener (default 127.0.0.1:15000 if free, else ephemeral)')
    .action(
      async (o: { duration: string; rps: string; pattern: string; keep: boolean; listen?: string; admin?: string }) => {
        // Loaded on use: the demo's clients import the whole undici package, which `weir serve` does not need.
        const { runDemoCommand } = await import('./commands/demo.ts');
        result.code = await runDemoCommand(o);
      },
    );

  const rollout = program
    .command('rollout')
    .description('canaries that run themselves, judged by anytime-valid statistics');
  const runOptions = (c: Command): Command =>
    c
      .requiredOption('-f, --filename <path>', 'the Canary (weir.dev/v1alpha1) file')
      .addOption(
        new Option('--config <path>', 'config file or folder holding the VirtualService (repeatable)')
          .argParser(collect)
          .default([] as string[], "the Canary's folder"),
      )
      .addOption(
        new Option('--admin <url>', 'weir serve admin endpoint to read counts from (repeatable, summed)')
          .argParser(collect)
          .default([] as string[], DEFAULT_ADMIN_URL),
      )
      .option('--prometheus <url>', 'read the counts through the Prometheus HTTP API instead')
      .option('-n, --namespace <ns>', 'namespace of resources that name none')
      .option('--tick <duration>', 'evaluation period', '1s')
      .option('--plain', 'plain lines even on a terminal', false);
  runOptions(
    rollout.command('run').description('run a Canary to the end: exit 0 promoted, 3 rolled back, 4 inconclusive'),
  )
    .option('--restart', 'start a new run even if an unfinished (or promoted) one is persisted', false)
    .action(async (o: RolloutRunOptions) => {
      result.code = await runRolloutRun(o, 'run');
    });
  runOptions(rollout.command('resume').description('continue a paused or interrupted rollout')).action(
    async (o: RolloutRunOptions) => {
      result.code = await runRolloutRun(o, 'resume');
    },
  );
  rollout
    .command('status')
    .description('the persisted status of a rollout, with its statistics')
    .requiredOption('-f, --filename <path>', 'the Canary (weir.dev/v1alpha1) file')
    .option('-n, --namespace <ns>', 'namespace of resources that name none')
    .option('--json', 'JSON output', false)
    .action(async (o: RolloutStatusOptions) => {
      result.code = await runRolloutStatus(o);
    });
  for (const action of ['promote', 'abort'] as const) {
    rollout
      .command(action)
      .description(
        action === 'promote'
          ? 'route 100 % to the canary now and end the rollout'
          : 'route 100 % to the primary now and end the rollout',
      )
      .requiredOption('-f, --filename <path>', 'the Canary (weir.dev/v1alpha1) file')
      .option(
        '--config <path>',
        'config file or folder holding the VirtualService (repeatable)',
        collect,
        [] as string[],
      )
      .option('-n, --namespace <ns>', 'namespace of resources that name none')
      .option('--reason <text>', 'recorded in the status and the decision log')
      .option('--force', 'act on a rollout that already ended', false)
      .action(async (o: RolloutActOptions) => {
        result.code = await runRolloutAct(action, o);
      });
  }
  rollout
    .command('simulate')
    .description("judge a Canary's analysis on synthetic traffic, many runs, next to Flagger's rule")
    .requiredOption('-f, --filename <path>', 'the Canary (weir.dev/v1alpha1) file')
    .requiredOption('--rps <n>', 'total requests per second (Poisson)')
    .requiredOption('--errors <p1,p2>', 'error rates of primary and canary as fractions, e.g. 0.005,0.01')
    .option('--latency-ms <p50,p50>', 'median latency of primary and canary in ms (lognormal, σ 0.6)', '100,100')
    .option('--runs <n>', 'runs per rule (default 200, fewer for maxDuration above 30m)')
    .option('--seed <n>', 'RNG seed', '20240601')
    .option('--max-duration <d>', "override the Canary's maxDuration, e.g. 60m")
    .action(async (o: RolloutSimulateOptions) => {
      result.code = await runRolloutSimulate(o);
    });

  addExitCodeHelp(program);
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
