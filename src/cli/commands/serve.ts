/**
 * `weir serve`: the proxy with its admin port, hot reload (file watching and SIGHUP) and graceful shutdown
 * (SIGTERM/SIGINT drain in-flight requests, then exit 0). A reload that does not validate is logged with its
 * diagnostics and the last good configuration keeps serving.
 */
import { type MetricsSource, startAdmin } from '../../admin/server.ts';
import { type Diagnostic, isRejection, sortDiagnostics } from '../../config/diagnostics.ts';
import type { FieldValidation } from '../../config/schema-check.ts';
import { analyzeSnapshot, type ConfigSnapshot } from '../../config/snapshot.ts';
import { FileConfigStore } from '../../config/store.ts';
import { watchConfigPaths } from '../../config/watch.ts';
import { initHashing } from '../../dataplane/cluster/lb/index.ts';
import { type MirrorRecord, ProxyServer, type RequestRecord } from '../../dataplane/proxy.ts';
import { compileRouteTableSteps } from '../../routing/compile.ts';
import type { ProxyMode } from '../../routing/types.ts';
import { type AccessLogFormat, AccessLogWriter } from '../../telemetry/access-log.ts';
import {
  attachProxyMetrics,
  createProxyMetrics,
  recordConfigReload,
  recordOutlierEjection,
} from '../../telemetry/metrics.ts';
import { RouteCountsRecorder, withRouteCountMetrics } from '../../telemetry/route-counts.ts';
import { parseDurationMs } from '../../util/duration.ts';
import { runInSlices } from '../../util/slice.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { formatDiagnosticLine } from '../output.ts';

/** Options of `weir serve` (and of the programmatic {@link startServe}). */
export interface ServeOptions {
  paths: string[];
  listen: string;
  admin: string | null;
  namespace: string;
  workload: string | null;
  labels: Record<string, string> | null;
  gateway: string | null;
  logFormat: AccessLogFormat | 'off';
  shadowSuffix: boolean;
  /** The proxy's locality `region/zone/subzone` (locality-prioritised load balancing), or null. */
  locality?: string | null;
  /**
   * Unknown fields: kubectl's `--validate`. `strict` (default) makes them rejecting errors (not starting, or the reload
   * rejected and the last good configuration kept); `warn` logs them and serves without the field; `ignore` says nothing.
   */
  fieldValidation?: FieldValidation;
  /** Watch the paths for changes (default true). */
  watch?: boolean;
  /** Where logs go (default stderr for weir's own lines, stdout for the access log). */
  log?: (line: string) => void;
  accessLogStream?: NodeJS.WritableStream;
  rng?: () => number;
  /** Drain limit on close (SIGTERM/SIGINT), ms: Istio's `terminationDrainDuration`; default 5 000 (`--drain-timeout`). */
  drainTimeoutMs?: number;
  metrics?: (hooks: { onRequest(r: RequestRecord): void; onMirror(r: MirrorRecord): void }) => MetricsSource;
  /**
   * Keep the per-route counts of `weir rollout` (`telemetry/route-counts.ts`): served on the admin
   * `/rollout/counts` and as {@link ServeHandle.routeCounts}. Default true.
   */
  routeCounts?: boolean;
  /**
   * Also export the route counts as `weir_route_*` on `/stats/prometheus` (only with `metrics`). Default true.
   */
  routeCountMetrics?: boolean;
}

/** A running `weir serve`. */
export interface ServeHandle {
  proxy: ProxyServer;
  /** `http://host:port` of the listener. */
  url: string;
  adminUrl: string | null;
  /** The per-route counts (admin `/rollout/counts`), or null when `routeCounts: false`. */
  routeCounts: RouteCountsRecorder | null;
  /** Reloads from the paths now; resolves true when the new config was applied. */
  reload(): Promise<boolean>;
  /** Graceful shutdown. */
  close(): Promise<void>;
}

/** Parses `host:port` (IPv6 in brackets). @throws CliError (exit 64). */
export function parseHostPort(value: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  if (!m) throw new CliError(`${flag}: expected host:port, got "${value}"`, EXIT.USAGE);
  const port = Number(m[3]);
  if (port > 65535) throw new CliError(`${flag}: port out of range in "${value}"`, EXIT.USAGE);
  return { host: m[1] ?? m[2]!, port };
}

/**
 * Parses `--drain-timeout`: a duration as Istio writes them (`5s`, `500ms`, `1m`; `0` for no drain), in ms.
 * @throws CliError (exit 64) for anything else or a negative value.
 */
export function parseDrainTimeout(value: string): number {
  const ms = parseDurationMs(value.trim());
  if (ms === null || ms < 0 || !Number.isFinite(ms))
    throw new CliError(`--drain-timeout: expected a duration such as 5s or 500ms, got "${value}"`, EXIT.USAGE);
  return ms;
}

/** Parses `k=v,k2=v2`. @throws CliError (exit 64). */
export function parseLabels(value: string, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new CliError(`${flag}: expected k=v[,k=v…], got "${value}"`, EXIT.USAGE);
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

/** Diagnostics that make a configuration unusable (syntax, schema, webhook rejections), as text lines. */
function errorsOf(s: ConfigSnapshot): string[] {
  return sortDiagnostics(s.diagnostics.filter(isRejection)).map((d) => formatDiagnosticLine(d));
}

/** Analyzer findings (Istio would still serve the config): logged, not fatal. */
function findingsOf(s: ConfigSnapshot): string[] {
  return sortDiagnostics(s.diagnostics.filter((d) => !isRejection(d) && d.level !== 'info')).map((d) =>
    formatDiagnosticLine(d),
  );
}

/** Event-loop slices for building configurations while serving (see `util/slice.ts`). */
const SLICES = { sliceMs: 8 } as const;

/**
 * The analyzers, run after a configuration is applied, in event-loop slices; a newer snapshot supersedes one not yet
 * analyzed. Findings already reported are not repeated.
 */
function startAnalysis(log: (line: string) => void): { run(s: ConfigSnapshot): void; stop(): void } {
  let latest: ConfigSnapshot | null = null;
  let running = false;
  let stopped = false;
  let lastStart = Number.NEGATIVE_INFINITY;
  let reported = new Set<string>();
  const loop = async (): Promise<void> => {
    running = true;
    while (latest && !stopped) {
      // A burst of changes is analyzed once, when it settles; under steady churn at most once per interval.
      await sleep(Math.max(ANALYSIS_SETTLE_MS, lastStart + ANALYSIS_INTERVAL_MS - performance.now()));
      if (stopped || !latest) break;
      const s = latest;
      latest = null;
      lastStart = performance.now();
      let found: Diagnostic[];
      try {
        found = await runInSlices(analyzeSnapshot(s), SLICES);
      } catch (err) {
        log(`weir: internal error in analysis: ${(err as Error).message}`);
        continue;
      }
      if (stopped) break;
      const lines = found.filter((d) => d.level !== 'info').map((d) => formatDiagnosticLine(d));
      for (const l of lines) if (!reported.has(l)) log(l);
      reported = new Set(lines);
    }
    running = false;
  };
  return {
    run(s) {
      latest = s;
      if (!running) void loop();
    },
    stop() {
      stopped = true;
    },
  };
}

/** Quiet time after a change before the analyzers run (ms). */
const ANALYSIS_SETTLE_MS = 200;
/** Shortest time between two analyzer runs (ms): under churn, analysis is a background task, not the workload. */
const ANALYSIS_INTERVAL_MS = 2000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)).unref());
}

/**
 * Starts the proxy and admin server. @throws CliError with exit 79 when the initial config has errors, 64 for
 * bad addresses.
 */
export async function startServe(opts: ServeOptions): Promise<ServeHandle> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const listen = parseHostPort(opts.listen, '--listen');
  const admin = opts.admin ? parseHostPort(opts.admin, '--admin') : null;
  if (opts.paths.length === 0) throw new CliError('no configuration: give -f PATH (files or directories)', EXIT.USAGE);
  const snapshotOpts = { defaultNamespace: opts.namespace, fieldValidation: opts.fieldValidation ?? 'strict' };
  // Analysis runs after a configuration is applied (it only reports; Istio serves what its analyzers flag), so the
  // store builds snapshots without it. Everything is built in event-loop slices: a large mesh never stalls requests.
  const store = new FileConfigStore(opts.paths, { ...snapshotOpts, analyze: false });
  const first = await store.refresh({ slice: SLICES });
  const errs = errorsOf(first);
  if (errs.length > 0) {
    for (const e of errs) log(e);
    throw new CliError(`configuration has ${errs.length} error(s); not starting`, EXIT.ANALYSIS);
  }
  for (const f of findingsOf(first)) log(f);
  if (first.resourceCount === 0) {
    const until = opts.watch === false ? 'a reload (SIGHUP)' : `resources appear in ${opts.paths.join(', ')} (watched)`;
    log(`weir: starting with no configuration: every request gets 404 NR until ${until}`);
  }
  await initHashing();
  const hooks = { onRequest: (_r: RequestRecord) => {}, onMirror: (_r: MirrorRecord) => {} };
  const metrics = opts.metrics?.(hooks) ?? null;
  const routeCounts = opts.routeCounts === false ? null : new RouteCountsRecorder();
  const accessLog =
    opts.logFormat === 'off' ? null : new AccessLogWriter(opts.accessLogStream ?? process.stdout, opts.logFormat);
  const sidecar =
    opts.workload || opts.labels
      ? { labels: opts.labels ?? {}, namespace: opts.namespace, workload: opts.workload }
      : null;
  const mode: ProxyMode = { gateway: opts.gateway, namespace: opts.namespace, labels: sidecar?.labels ?? null };
  const proxy = new ProxyServer(first, {
    host: listen.host,
    port: listen.port,
    mode,
    table: await runInSlices(compileRouteTableSteps(first, mode, null), SLICES),
    sidecar,
    shadowSuffix: opts.shadowSuffix,
    accessLog,
    ...(opts.rng ? { rng: opts.rng } : {}),
    ...(opts.drainTimeoutMs !== undefined ? { drainTimeoutMs: opts.drainTimeoutMs } : {}),
    locality: opts.locality ?? null,
    onOutlierEjection: (cluster, host) => {
      recordOutlierEjection(metrics, cluster);
      log(`weir: outlier detection ejected ${host} from ${cluster}`);
    },
    onRequest: routeCounts
      ? (r) => {
          routeCounts.onRequest(r);
          hooks.onRequest(r);
        }
      : (r) => hooks.onRequest(r),
    onMirror: routeCounts
      ? (r) => {
          routeCounts.onMirror(r);
          hooks.onMirror(r);
        }
      : (r) => hooks.onMirror(r),
  });
  attachProxyMetrics(metrics, proxy);
  let addr: Awaited<ReturnType<typeof proxy.listen>>;
  try {
    addr = await proxy.listen();
  } catch (err) {
    await proxy.close();
    throw new CliError(`--listen ${opts.listen}: ${(err as Error).message}`, EXIT.USAGE);
  }
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  let lastReload: { ok: boolean; at: string; errors: string[] } = {
    ok: true,
    at: new Date().toISOString(),
    errors: [],
  };
  let adminServer: Awaited<ReturnType<typeof startAdmin>> | null = null;
  if (admin) {
    try {
      adminServer = await startAdmin({
        host: admin.host,
        port: admin.port,
        proxy,
        metrics:
          metrics && routeCounts && opts.routeCountMetrics !== false
            ? withRouteCountMetrics(metrics, routeCounts)
            : metrics,
        routeCounts,
        status: () => ({ lastReload }),
      });
    } catch (err) {
      await proxy.close();
      throw new CliError(`--admin ${opts.admin}: ${(err as Error).message}`, EXIT.USAGE);
    }
  }
  const adminUrl = adminServer ? `http://${adminServer.address.address}:${adminServer.address.port}` : null;

  const analysis = startAnalysis(log);
  analysis.run(first);

  const applyNext = async (changed: readonly string[] | undefined, addedOrRemoved: boolean): Promise<boolean> => {
    try {
      const next = await store.refresh({
        ...(changed ? { changed, filesAddedOrRemoved: addedOrRemoved } : {}),
        slice: SLICES,
      });
      const bad = errorsOf(next);
      if (bad.length > 0) {
        lastReload = { ok: false, at: new Date().toISOString(), errors: bad };
        recordConfigReload(metrics, false);
        log(`weir: reload rejected, keeping the last good configuration (${bad.length} error(s)):`);
        for (const e of bad) log(`  ${e}`);
        return false;
      }
      for (const f of findingsOf(next)) log(f);
      const table = await runInSlices(compileRouteTableSteps(next, proxy.mode, proxy.routeTable()), SLICES);
      proxy.applyTable(table, await runInSlices(proxy.sourceResolverSteps(next), SLICES));
      lastReload = { ok: true, at: new Date().toISOString(), errors: [] };
      recordConfigReload(metrics, true, proxy.configVersion);
      log(`weir: configuration reloaded (version ${proxy.configVersion}, ${next.resourceCount} resources)`);
      analysis.run(next);
      return true;
    } catch (err) {
      lastReload = { ok: false, at: new Date().toISOString(), errors: [String((err as Error).message)] };
      recordConfigReload(metrics, false);
      log(`weir: reload failed, keeping the last good configuration: ${(err as Error).message}`);
      return false;
    }
  };
  // Reloads run one at a time. A request made while one runs waits for it and then runs once with every change
  // asked for meanwhile (a change written during a reload is never lost; a burst of changes is one reload).
  let chain: Promise<unknown> = Promise.resolve();
  let queued: { changed: Set<string> | null; addedOrRemoved: boolean; done: Promise<boolean> } | null = null;
  const reload = (changed?: readonly string[], addedOrRemoved = true): Promise<boolean> => {
    if (queued) {
      if (!changed) queued.changed = null;
      else if (queued.changed) for (const c of changed) queued.changed.add(c);
      queued.addedOrRemoved ||= addedOrRemoved;
      return queued.done;
    }
    const entry: { changed: Set<string> | null; addedOrRemoved: boolean; done: Promise<boolean> } = {
      changed: changed ? new Set(changed) : null,
      addedOrRemoved,
      done: Promise.resolve(false),
    };
    queued = entry;
    entry.done = chain.then(() => {
      if (queued === entry) queued = null;
      return applyNext(entry.changed ? [...entry.changed] : undefined, entry.addedOrRemoved);
    });
    chain = entry.done;
    return entry.done;
  };

  let watcher: { close(): void } | null = null;
  if (opts.watch !== false) {
    // Only what the loader reads triggers a reload: the named files, and *.yaml|*.yml|*.json (not hidden) under the
    // named directories (`config/watch.ts`). A burst of changes is one reload; changes keep being applied under churn.
    watcher = watchConfigPaths(
      opts.paths,
      ({ files, addedOrRemoved }) => {
        log(`weir: ${files.length > 5 ? `${files.length} files` : files.join(', ')} changed, reloading`);
        void reload(files, addedOrRemoved);
      },
      { onError: (err) => log(`weir: watch error: ${err.message}`) },
    );
  }
  let closing: Promise<void> | null = null;
  return {
    proxy,
    url,
    adminUrl,
    routeCounts,
    reload: () => reload(),
    close: () => {
      closing ??= (async () => {
        // The drain starts at once (the admin /ready answers 503 DRAINING from now on); the admin port stays up
        // until the proxy has drained.
        const drained = proxy.close();
        analysis.stop();
        watcher?.close();
        await drained;
        await adminServer?.close();
      })();
      return closing;
    },
  };
}

/** Runs `weir serve` until SIGTERM/SIGINT; returns the exit code. */
export async function runServe(opts: ServeOptions): Promise<number> {
  const handle = await startServe({ metrics: createProxyMetrics, ...opts });
  // A safety net: a promise rejected without a handler is a bug in weir, and must not take every in-flight request
  // down with the process (Node's default). It is reported, and the proxy keeps serving.
  process.on('unhandledRejection', (reason) => {
    process.stderr.write(
      `weir: internal error (unhandled rejection), still serving: ${(reason as Error)?.stack ?? String(reason)}\n`,
    );
  });
  process.stderr.write(
    `weir: proxy listening on ${handle.url}${handle.adminUrl ? `, admin on ${handle.adminUrl}` : ''}\n`,
  );
  return new Promise<number>((resolve) => {
    let stopping = false;
    // One SIGHUP handler for the whole run (replacing it could lose a signal that arrives in between): reload, or
    // while draining ignore it (its default action would end the process).
    const onHup = (): void => {
      if (stopping) process.stderr.write('weir: SIGHUP ignored while draining\n');
      else void handle.reload();
    };
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`weir: ${signal} received, draining\n`);
      handle.close().then(
        () => resolve(EXIT.OK),
        () => resolve(EXIT.INTERNAL),
      );
    };
    process.on('SIGHUP', onHup);
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
