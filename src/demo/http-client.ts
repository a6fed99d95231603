/**
 * The demo's HTTP clients (undici): one from 127.0.0.1 and one bound to 127.0.0.5, the address of the `qa-tools`
 * WorkloadEntry in `examples/clients.yaml`, so `sourceLabels` routing sees a different workload. Only loopback
 * targets; every request has a deadline and never throws (failures come back as an outcome).
 */
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import type { Dispatcher, Agent as UndiciAgent } from 'undici';

// undici's Agent and its request API from their own modules, not the package root (which also loads fetch,
// WebSocket, caches…): the bundle of bin/weir.js would otherwise load all of undici for every command, `weir serve`
// included (see src/dataplane/upstream/undici.ts for the measured cost).
const require = createRequire(import.meta.url);
const Agent: typeof UndiciAgent = require('undici/lib/dispatcher/agent.js');
type Agent = UndiciAgent;
const api = require('undici/lib/api/index.js') as {
  request(this: Dispatcher, opts: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData>;
};

/** The address of the qa-tools client workload (`examples/clients.yaml`). */
export const QA_TOOLS_ADDRESS = '127.0.0.5';

/** Longest a demo request may take before the client gives up, ms (above the 10 s route timeout of per-group). */
export const CLIENT_TIMEOUT_MS = 15_000;

/** What the client saw for one request. */
export interface RequestOutcome {
  /** HTTP status, or 0 when no response arrived (connection error, client timeout). */
  status: number;
  /** `x-backend-version` of the answer (`v1`, `v2`), or null for a local reply or an error. */
  version: string | null;
  /** `x-backend-name` of the answer (which pod), or null for a local reply or an error. */
  backend: string | null;
  /** Time to the end of the response body, ms. */
  latencyMs: number;
  /** Error code when no response arrived (`ECONNREFUSED`, `UND_ERR_…`), else null. */
  error: string | null;
}

/** The two client identities; owned by the demo run, which closes them. */
export interface DemoClients {
  /** From 127.0.0.1 (no workload in the registry). */
  local: Agent;
  /** From 127.0.0.5 (workload qa/qa-tools, app=qa-tools); null when this host cannot use that address. */
  qa: Agent | null;
  close(): Promise<void>;
}

/**
 * Checks that this host can send from `localAddress` (Linux routes all of 127.0.0.0/8 to loopback; macOS has only
 * 127.0.0.1 unless an alias is added) by opening one TCP connection to `target`. Resolves null when it can, else
 * the error code.
 */
export function probeLocalAddress(
  localAddress: string,
  target: { host: string; port: number },
): Promise<string | null> {
  return new Promise((resolve) => {
    const s = connect({ host: target.host, port: target.port, localAddress });
    const done = (err: string | null): void => {
      s.destroy();
      resolve(err);
    };
    s.setTimeout(2000, () => done('ETIMEDOUT'));
    s.once('connect', () => done(null));
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}

/**
 * Creates the clients. `localAddress` must be an Agent option: undici 7's connector passes the client's own
 * `localAddress` to `net.connect` after `connect: {…}`, so `connect: { localAddress }` is silently overridden.
 */
export function createDemoClients(qaAvailable: boolean): DemoClients {
  const opts = { connections: 128, keepAliveTimeout: 10_000, headersTimeout: CLIENT_TIMEOUT_MS };
  const local = new Agent(opts);
  const qa = qaAvailable ? new Agent({ ...opts, localAddress: QA_TOOLS_ADDRESS }) : null;
  return {
    local,
    qa,
    close: async () => {
      await Promise.all([local.close(), qa?.close()]);
    },
  };
}

/** Sends `GET /` with `headers` (Host included) through the proxy at `proxyUrl`. Never throws. */
export async function sendRequest(
  dispatcher: Agent,
  proxyUrl: string,
  headers: Record<string, string>,
  path = '/',
): Promise<RequestOutcome> {
  const t0 = performance.now();
  try {
    const res = await api.request.call(dispatcher, {
      origin: proxyUrl,
      path,
      method: 'GET',
      headers,
      signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
    });
    await res.body.dump({ limit: 1024 * 1024 });
    const v = res.headers['x-backend-version'];
    const b = res.headers['x-backend-name'];
    return {
      status: res.statusCode,
      version: typeof v === 'string' ? v : null,
      backend: typeof b === 'string' ? b : null,
      latencyMs: performance.now() - t0,
      error: null,
    };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return {
      status: 0,
      version: null,
      backend: null,
      latencyMs: performance.now() - t0,
      error: e.code ?? e.name ?? 'error',
    };
  }
}
