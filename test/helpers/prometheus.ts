/**
 * A real Prometheus for end-to-end tests: started on loopback with a temporary config and data folder, scraping the
 * given targets every second. Skipping is the caller's decision: {@link PROMETHEUS_BIN} is undefined when no binary
 * exists (CI installs Debian's package: `apt-get install -y prometheus`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './backends.ts';

/** The Prometheus binary: `$PROMETHEUS_BIN`, `/usr/bin/prometheus` or `/usr/local/bin/prometheus`; undefined if none. */
export const PROMETHEUS_BIN: string | undefined = [
  process.env.PROMETHEUS_BIN,
  '/usr/bin/prometheus',
  '/usr/local/bin/prometheus',
].find((p): p is string => typeof p === 'string' && p !== '' && existsSync(p));

/** Prints why `testFile` is skipped when there is no Prometheus binary (no-op when there is one). */
export function reportMissingPrometheus(testFile: string): void {
  if (PROMETHEUS_BIN) return;
  process.stderr.write(
    `${testFile}: SKIPPED — no prometheus binary (looked at $PROMETHEUS_BIN, /usr/bin/prometheus, ` +
      '/usr/local/bin/prometheus). Install it with: apt-get install -y prometheus\n',
  );
}

/** One scrape job: static `host:port` targets, scraped every second (timeout 1 s). */
export interface ScrapeJob {
  readonly job: string;
  readonly targets: readonly string[];
  /** Default `/metrics`. */
  readonly metricsPath?: string;
}

/** A running Prometheus. */
export interface PrometheusServer {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** What it wrote on stderr (warnings and errors). */
  readonly log: string[];
  /** GET `path` with query `params`; the parsed JSON answer. */
  api(
    path: string,
    params: Record<string, string>,
  ): Promise<{ status: string; data: { resultType: string; result: unknown[] }; error?: string }>;
  /** SIGTERM (SIGKILL after 10 s), then removes its folder. */
  close(): Promise<void>;
}

/**
 * Starts Prometheus on a free loopback port with a config scraping `jobs` every second, and waits until it is ready
 * (`/-/ready`, 30 s per attempt; a port taken between probing and binding is retried up to 5 times). Throws with its
 * log when it never becomes ready. Requires {@link PROMETHEUS_BIN}.
 */
export async function startPrometheus(jobs: readonly ScrapeJob[]): Promise<PrometheusServer> {
  if (!PROMETHEUS_BIN) throw new Error('startPrometheus: no prometheus binary');
  const dir = await mkdtemp(join(tmpdir(), 'weir-prom-'));
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    ...jobs.flatMap((j) => [
      `- job_name: ${j.job}`,
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      `  metrics_path: ${j.metricsPath ?? '/metrics'}`,
      '  static_configs:',
      `  - targets: [${j.targets.map((t) => `'${t}'`).join(', ')}]`,
    ]),
    '',
  ].join('\n');
  await writeFile(join(dir, 'prometheus.yml'), config);
  const log: string[] = [];
  let child: ChildProcess | null = null;
  let url = '';
  for (let attempt = 0; attempt < 5 && url === ''; attempt++) {
    const port = await freePort();
    const c = spawn(
      PROMETHEUS_BIN,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    c.stderr?.on('data', (chunk: Buffer) => log.push(chunk.toString()));
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    const deadline = Date.now() + 30_000;
    let ready = false;
    while (!ready && Date.now() < deadline && c.exitCode === null) {
      ready = await fetch(`http://127.0.0.1:${port}/-/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (!ready) await Promise.race([exited, new Promise((r) => setTimeout(r, 100))]);
    }
    if (ready) {
      child = c;
      url = `http://127.0.0.1:${port}`;
    } else {
      c.kill('SIGKILL');
      await exited;
    }
  }
  if (url === '' || child === null) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`prometheus did not become ready:\n${log.join('')}`);
  }
  const proc = child;
  return {
    url,
    log,
    async api(path, params) {
      const r = await fetch(`${url}${path}?${new URLSearchParams(params)}`);
      return (await r.json()) as never;
    },
    async close() {
      if (proc.exitCode === null) {
        const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
