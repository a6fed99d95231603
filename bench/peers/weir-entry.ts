/**
 * Entry of the weir build the side-by-side benchmark runs (bundled once per run with the same esbuild options as
 * bin/weir.js, so a source edit during a run cannot change the code under test between rounds).
 *
 *   node weir-bench.mjs serve …            exactly `weir serve …` (the CLI, Istio metrics on)
 *   node weir-bench.mjs metrics-off <dir> <listen> <admin>
 *                                          `weir serve -f <dir> --log-format off` without the Prometheus metrics
 *                                          (the CLI has no switch for that; startServe takes `metrics` as an option)
 */

import { startServe } from '../../src/cli/commands/serve.ts';
import { main } from '../../src/cli/main.ts';

if (process.argv[2] === 'metrics-off') {
  const [dir, listen, admin] = process.argv.slice(3);
  const handle = await startServe({
    paths: [dir!],
    listen: listen!,
    admin: admin!,
    namespace: 'default',
    workload: null,
    labels: null,
    gateway: null,
    logFormat: 'off',
    shadowSuffix: true,
  });
  process.stderr.write(`weir: proxy listening on ${handle.url} (metrics off)\n`);
  process.once('SIGTERM', () => void handle.close().then(() => process.exit(0)));
} else {
  process.exitCode = await main(process.argv);
}
