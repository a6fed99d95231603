/**
 * `weir backend --listen HOST:PORT --name NAME --version V [...]`: runs one test upstream (see src/backend/README.md)
 * until SIGINT/SIGTERM, then closes it and exits 0. Prints one line with its URL when listening.
 */
import { InvalidArgumentError } from 'commander';
import { type Backend, startBackend } from '../../backend/backend.ts';
import { CliError, EXIT } from '../exit-codes.ts';

/** Options of `weir backend` (already parsed by commander with the parsers below). */
export interface BackendCommandOptions {
  /** `host:port`, `[v6]:port`, `:port` or `port` (host defaults to 127.0.0.1; port 0 = ephemeral). */
  listen: string;
  /** Service name, e.g. `checkout-service`. */
  name: string;
  /** Version, e.g. `v1`. */
  version: string;
  /** Fixed added latency, ms. */
  latencyMs?: number;
  /** Fraction 0..1 of requests answered with `errorStatus`. */
  errorRate?: number;
  /** Status of injected errors, 200..599 (default 500). */
  errorStatus?: number;
  /** RNG seed for reproducible error draws. */
  seed?: number;
  /** Response body size in bytes (JSON padded with spaces). */
  responseBytes?: number;
  /** Honour `x-backend-delay-ms` / `x-backend-status` request headers. */
  allowControlHeaders?: boolean;
  /** Stops the backend like SIGTERM does (for embedding and tests). */
  signal?: AbortSignal;
  /** Where the start-up line goes; default `process.stdout`. */
  out?: NodeJS.WritableStream;
}

/** Splits a `--listen` value into host and port; throws `InvalidArgumentError` (exit 64) when malformed. */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value) ?? /^()()(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65_535) {
    throw new InvalidArgumentError(`expected HOST:PORT, [IPv6]:PORT or PORT, got ${JSON.stringify(value)}`);
  }
  const host = m[1] || m[2] || '127.0.0.1';
  return { host, port };
}

/** Commander argument parser for a non-negative integer (ms, bytes, counts, seeds). */
export function parseNonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError(`expected a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** Commander argument parser for a fraction 0..1 (e.g. `0.05`). */
export function parseFraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) {
    throw new InvalidArgumentError(`expected a fraction between 0 and 1, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** Commander argument parser for an HTTP status 200..599. */
export function parseHttpStatus(value: string): number {
  const n = Number(value);
  if (!/^\d{3}$/.test(value) || n < 200 || n > 599) {
    throw new InvalidArgumentError(`expected an HTTP status 200..599, got ${JSON.stringify(value)}`);
  }
  return n;
}

/**
 * Runs the command: listens, prints `NAME VERSION listening on URL`, waits for SIGINT, SIGTERM or `opts.signal`,
 * closes every connection and returns exit code 0. Invalid options or a failed listen (e.g. address in use) throw
 * `CliError` with exit code 64.
 */
export async function runBackend(opts: BackendCommandOptions): Promise<number> {
  let listen: { host: string; port: number };
  try {
    listen = parseListen(opts.listen);
  } catch (err) {
    throw new CliError(`--listen: ${(err as Error).message}`, EXIT.USAGE);
  }
  let backend: Backend;
  try {
    backend = await startBackend({
      host: listen.host,
      port: listen.port,
      name: opts.name,
      version: opts.version,
      latencyMs: opts.latencyMs,
      errorRate: opts.errorRate,
      errorStatus: opts.errorStatus,
      seed: opts.seed,
      responseBytes: opts.responseBytes,
      allowControlHeaders: opts.allowControlHeaders,
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e instanceof RangeError) throw new CliError(e.message, EXIT.USAGE);
    if (typeof e.code === 'string') throw new CliError(`cannot listen on ${opts.listen}: ${e.code}`, EXIT.USAGE);
    throw err;
  }
  const out = opts.out ?? process.stdout;
  const cfg = backend.config();
  out.write(`${cfg.name} ${cfg.version} listening on ${backend.url} (seed ${cfg.seed})\n`);

  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      opts.signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (opts.signal?.aborted) stop();
    else opts.signal?.addEventListener('abort', stop, { once: true });
  });
  await backend.close();
  return EXIT.OK;
}
