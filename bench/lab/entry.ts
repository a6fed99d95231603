/**
 * A bundle entry for bench/lab: `serve -f <dir> --listen <a> --admin <b> --log-format <f>` straight into runServe,
 * without the rest of the CLI (lets the lab run while other commands are being edited). RSS measured with this entry
 * misses the modules only main.ts imports (commander and the other commands).
 */
import { runServe } from '../../src/cli/commands/serve.ts';

const a = process.argv.slice(2);
const val = (f: string): string => a[a.indexOf(f) + 1]!;
process.exitCode = await runServe({
  paths: [val('-f')],
  listen: val('--listen'),
  admin: val('--admin'),
  namespace: 'default',
  workload: null,
  labels: null,
  gateway: null,
  logFormat: val('--log-format') as 'off',
  shadowSuffix: true,
  locality: null,
});
