/**
 * The L7 proxy: an HTTP/1.1 listener whose every request is decided by the routing engine and executed as Envoy
 * would — local replies with response flags, redirects, direct responses, faults, CORS, mirrors, and forwarding to
 * a cluster endpoint picked by the cluster's load balancer, with Istio's retry and timeout semantics. Config changes
 * swap one reference to a new route table; requests in flight finish on the table they started with. The data
 * plane never throws across a request: every failure becomes a local reply and an access-log line.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { splitAuthority } from '../config/hosts.ts';
import type { ConfigSnapshot } from '../config/snapshot.ts';
import { compileRouteTable, type RouteTable } from '../routing/compile.ts';
import { decide, redirectTarget, rewritePath } from '../routing/decide.ts';
import type {
  CompiledDestination,
  CompiledRoute,
  HashPolicy,
  HeaderOps,
  MirrorPolicy,
  ProxyMode,
  RequestFacts,
  RouteDecision,
} from '../routing/types.ts';
import type { AccessLogWriter } from '../telemetry/access-log.ts';
import { runToEnd, type Steps } from '../util/slice.ts';
import { type AttemptOutcome, backoffMs, isRetriable } from './attempts/retry-policy.ts';
import { computeRequestHash, type HashPolicy as LbHashPolicy, makeSetCookieValue } from './cluster/lb/index.ts';
import { formatFlags, LOCAL_REPLIES, type LocalReply } from './local-reply.ts';
import {
  applyHeaderOps,
  connectionTokens,
  type FormatContext,
  flatten,
  type HeaderList,
  isHopByHop,
} from './pipeline/header-ops.ts';
import { DEFAULT_DRAIN_TIMEOUT_MS, DownstreamConnections } from './server/drain.ts';
import { normalizePath } from './server/normalize-path.ts';
import {
  normalizeIp,
  registrySourceResolverSteps,
  type SourceResolver,
  sidecarSourceResolver,
} from './server/source-identity.ts';
import { runAttempt } from './upstream/attempt.ts';
import {
  ClusterManager,
  type ClusterRuntime,
  type EndpointRuntime,
  parseLocality,
} from './upstream/cluster-manager.ts';
import { dispatcherRequest, errors as undiciErrors } from './upstream/undici.ts';

/** Envoy's default per-request buffer limit for retries and shadows: 1 MiB. */
export const DEFAULT_REPLAY_BUFFER_BYTES = 1024 * 1024;
/** Envoy's default `max_request_headers_kb` (60 KiB). */
export const MAX_REQUEST_HEADER_BYTES = 60 * 1024;

/** What the proxy reports about each finished request (for metrics; the access log is written separately). */
export interface RequestRecord {
  decision: RouteDecision | null;
  /** The destination chosen (for a routed request). */
  destination: CompiledDestination | null;
  /** Labels of the upstream endpoint that answered (or was last tried), or null. */
  upstreamLabels: Readonly<Record<string, string>> | null;
  upstreamHost: string | null;
  source: RequestFacts['source'] | null;
  method: string;
  authority: string;
  protocol: string;
  /** 0 when no response was sent (client went away first). */
  status: number;
  /** Envoy response flags, comma-separated, or '-'. */
  responseFlags: string;
  durationMs: number;
  requestBytes: number;
  responseBytes: number;
  attempts: number;
  grpcStatus: string | null;
}

/** A mirror (shadow) request outcome, for metrics. */
export interface MirrorRecord {
  cluster: string;
  /** Upstream status, or 0 when it failed; -1 when skipped for lack of capacity or body. */
  status: number;
  outcome: 'sent' | 'failed' | 'dropped-overload' | 'dropped-no-endpoint' | 'dropped-body-too-large';
  durationMs: number;
  /** The route that mirrored the request (its VirtualService and index), for the per-route counts. */
  route: CompiledRoute;
  /** Which of `route.mirrors` this copy followed (host, subset, percentage). */
  mirror: MirrorPolicy;
}

/** Options of the proxy. */
export interface ProxyOptions {
  host: string;
  /** 0 = ephemeral. */
  port: number;
  mode: ProxyMode;
  /** The route table to start with, compiled for `mode` from the snapshot given (default: compiled here, at once). */
  table?: RouteTable;
  /** Sidecar mode: the proxy's own workload is the source of every request. Null: identify clients by IP. */
  sidecar: { labels: Readonly<Record<string, string>>; namespace: string; workload: string | null } | null;
  /** Append `-shadow` to the mirror's Host (Envoy default, Istio < 1.28). Default true. */
  shadowSuffix?: boolean;
  accessLog?: AccessLogWriter | null;
  /** Uniform random numbers in [0, 1); default Math.random. */
  rng?: () => number;
  /** Per-request body replay buffer (retries, mirrors), bytes; default 1 MiB. */
  replayBufferBytes?: number;
  /** Concurrent mirror requests at most; further mirrors are dropped (counted). Default 256. */
  maxConcurrentMirrors?: number;
  /** Upper bound on a mirror request's duration in ms when the route has no timeout. Default 60 000. */
  mirrorTimeoutMs?: number;
  /**
   * Graceful drain limit on close, ms (Istio's `terminationDrainDuration`): requests still in flight then are cut
   * (access log and metrics with flag `DC`). Default 5 000.
   */
  drainTimeoutMs?: number;
  onRequest?: (r: RequestRecord) => void;
  onMirror?: (r: MirrorRecord) => void;
  /** The proxy's locality, `region/zone/subzone` (locality-prioritised load balancing); null when unknown. */
  locality?: string | null;
  /** Called when outlier detection ejects a host. */
  onOutlierEjection?: (cluster: string, host: string) => void;
}

class RequestState {
  readonly startMs = performance.now();
  readonly startTime = new Date();
  flags: string[] = [];
  details = '';
  status = 0;
  bytesSent = 0;
  bytesReceived = 0;
  attempts = 0;
  upstreamHost: string | null = null;
  upstreamCluster: string | null = null;
  upstreamLabels: Readonly<Record<string, string>> | null = null;
  upstreamServiceTimeMs: number | null = null;
  decision: RouteDecision | null = null;
  destination: CompiledDestination | null = null;
  facts: RequestFacts | null = null;
  routeName: string | null = null;
  originalPath: string | null = null;
  requestId: string | null = null;
  bodyNotReplayable = false;
  grpcStatus: string | null = null;
  done = false;
  /** The downstream client went away before the response was complete. */
  gone = false;
  /** Who to tell when the client goes away (the running attempt or sleep); one at a time. */
  onGone: (() => void) | null = null;
  addFlag(f: string): void {
    if (!this.flags.includes(f)) this.flags.push(f);
  }
}

const NON_ASCII = /[^\x00-\x7f]/;

/** Whether the downstream client went away, and who to tell when it does (one listener at a time). */
interface ClientWatch {
  gone: boolean;
  onGone: (() => void) | null;
}

/** Sleeps `ms`, waking early when the client goes away. */
function sleepUnless(ms: number, watch: ClientWatch): Promise<void> {
  if (ms <= 0 || watch.gone) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(t);
      watch.onGone = null;
      resolve();
    };
    const t = setTimeout(done, ms);
    watch.onGone = done;
  });
}

/** A view of response headers for the retry decision (only the few it reads). */
function retryHeaderView(raw: Buffer[]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const b = raw[i]!;
    if (b.length !== 11 && b.length !== 20) continue; // grpc-status, x-envoy-ratelimited
    const name = b.toString('latin1').toLowerCase();
    if (name === 'grpc-status' || name === 'x-envoy-ratelimited') out[name] = raw[i + 1]!.toString('latin1');
  }
  return out;
}

interface BodyRead {
  /** The whole body when it fit in the replay buffer. */
  buffer: Buffer | null;
  /** The body as a stream of chunks when it did not fit (single attempt, no mirror), else null. */
  stream: AsyncIterable<Buffer> | null;
  bytes: number;
}

/** Downstream connections a response is closing (`connection: close`): later requests on them are not served. */
const closingSockets = new WeakSet<Socket>();

/** The proxy. Create with a snapshot, `listen()`, swap config with `setSnapshot()`, stop with `close()`. */
export class ProxyServer {
  private table: RouteTable;
  private resolveSource: SourceResolver;
  private readonly server: Server;
  private readonly clusters: ClusterManager;
  private readonly opts: Required<
    Omit<ProxyOptions, 'accessLog' | 'onRequest' | 'onMirror' | 'locality' | 'onOutlierEjection' | 'table'>
  > &
    Pick<ProxyOptions, 'accessLog' | 'onRequest' | 'onMirror' | 'locality' | 'onOutlierEjection'>;
  private readonly connections = new DownstreamConnections();
  private draining = false;
  /** The drain limit passed: connections still open were destroyed. */
  private drainCut = false;
  private closing: Promise<void> | null = null;
  private mirrorsInFlight = 0;
  private inFlight = 0;
  /** Count of config versions applied. */
  configVersion = 1;

  constructor(snapshot: ConfigSnapshot, options: ProxyOptions) {
    this.opts = {
      shadowSuffix: true,
      rng: Math.random,
      replayBufferBytes: DEFAULT_REPLAY_BUFFER_BYTES,
      maxConcurrentMirrors: 256,
      mirrorTimeoutMs: 60_000,
      drainTimeoutMs: DEFAULT_DRAIN_TIMEOUT_MS,
      accessLog: null,
      ...options,
    };
    this.clusters = new ClusterManager({
      now: () => performance.now(),
      locality: options.locality ? parseLocality(options.locality) : null,
      labels: options.sidecar?.labels ?? null,
      ...(options.onOutlierEjection ? { onEjection: options.onOutlierEjection } : {}),
    });
    this.table = options.table ?? compileRouteTable(snapshot, options.mode);
    this.resolveSource = this.makeResolver(snapshot);
    this.server = createServer(
      { maxHeaderSize: MAX_REQUEST_HEADER_BYTES, requestTimeout: 0, keepAliveTimeout: 60_000 },
      (req, res) => {
        this.handle(req, res).catch((err: unknown) => this.internalError(res, err));
      },
    );
    this.server.on('connection', (s: Socket) => this.connections.add(s));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket));
  }

  private makeResolver(snapshot: ConfigSnapshot): SourceResolver {
    return runToEnd(this.sourceResolverSteps(snapshot));
  }

  /**
   * The source-identity resolver for a snapshot, as steps (`util/slice.ts`): the proxy's own workload in sidecar
   * mode, else the registry's workloads by address. Pass the result to {@link applyTable} with its table.
   */
  *sourceResolverSteps(snapshot: ConfigSnapshot): Steps<SourceResolver> {
    if (this.opts.sidecar) return sidecarSourceResolver(this.opts.sidecar);
    return yield* registrySourceResolverSteps(snapshot.registry);
  }

  /** Starts listening. Resolves with the bound address. */
  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** The bound address (after `listen`). */
  address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  /** The current route table. */
  routeTable(): RouteTable {
    return this.table;
  }

  /** Cluster runtimes (admin `/clusters`). */
  clusterRuntimes(): ClusterRuntime[] {
    return this.clusters.all();
  }

  /** Writes the queued access-log lines now (they are otherwise batched every 100 ms). */
  flushAccessLog(): void {
    this.opts.accessLog?.flush();
  }

  /** Requests being served now. */
  activeRequests(): number {
    return this.inFlight;
  }

  /**
   * Applies a new configuration: compiles it (reusing what is unchanged from the table in service, `compile.ts`)
   * and swaps it in with {@link applyTable}.
   */
  setSnapshot(snapshot: ConfigSnapshot): void {
    this.applyTable(compileRouteTable(snapshot, this.opts.mode, this.table));
  }

  /** The proxy's mode (sidecar or gateway, namespace, labels), for compiling tables elsewhere. */
  get mode(): ProxyMode {
    return this.opts.mode;
  }

  /**
   * Swaps in a route table compiled for this proxy (for example in event-loop slices). In-flight requests finish on
   * the table they started with. Cluster runtimes follow their clusters (`ClusterManager.reconcile`): unchanged
   * ones are kept as they are, an endpoint change updates the runtime in place (pools and outlier state of the hosts
   * that stay survive), clusters that are gone are closed once their requests finish.
   */
  applyTable(table: RouteTable, resolver?: SourceResolver): void {
    this.table = table;
    this.resolveSource = resolver ?? this.makeResolver(table.snapshot);
    this.configVersion++;
    this.clusters.reconcile((name) => table.clusterByName(name));
  }

  /** Envoy's server state as the admin `/ready` reports it: `LIVE`, or `DRAINING` from the start of `close()`. */
  serverState(): 'LIVE' | 'DRAINING' {
    return this.draining ? 'DRAINING' : 'LIVE';
  }

  /**
   * Graceful shutdown, as Envoy's graceful listener drain (`server/drain.ts`): from now on every response carries
   * `connection: close` and its connection is closed after it, the listener keeps accepting, idle keep-alive
   * connections are left open; once no connection has been open for 1 s (or at `drainTimeoutMs`, when the
   * connections still open are destroyed and the requests cut logged with `DC`) the listener closes, the access log
   * is flushed and the upstream pools are closed. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.drainAndClose();
    return this.closing;
  }

  private async drainAndClose(): Promise<void> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => {
      this.server.once('close', () => resolve());
    });
    const wasListening = this.server.listening;
    const end = await this.connections.drain(this.opts.drainTimeoutMs, () => {
      this.server.close();
    });
    if (end === 'limit') {
      this.drainCut = true;
      this.connections.destroyAll();
    }
    if (wasListening) await closed;
    // The server's 'close' can come before the sockets' own: wait for them, so that the requests cut at the limit
    // have written their access-log lines before the flush.
    await this.connections.allClosed();
    this.opts.accessLog?.flush();
    await this.clusters.close();
  }

  // ------------------------------------------------------------------------------------------ request path

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A request pipelined behind one whose response closes the connection is not served (RFC 9112 §9.6: the server
    // closes after that response; Envoy's codec stops reading). Node ≥ 22 hands such a request to the handler anyway.
    if (closingSockets.has(req.socket)) return;
    const st = new RequestState();
    const table = this.table;
    this.inFlight++;
    if (this.draining) res.setHeader('connection', 'close');
    if (this.draining || !res.shouldKeepAlive) closingSockets.add(req.socket);
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      this.inFlight--;
      this.complete(req, st);
    };
    res.on('close', () => {
      if (!res.writableFinished) {
        st.addFlag('DC');
        // Cut by weir at the drain limit (Envoy: the stream reset by a local close of its connection).
        if (this.drainCut) st.details = 'downstream_local_disconnect(drain_timeout)';
        if (!res.headersSent) st.status = 0;
        st.gone = true;
        st.onGone?.();
      }
      finish();
    });

    // Request target: origin-form uses Host; absolute-form (HTTP_PROXY clients) carries the authority itself.
    const url = req.url ?? '/';
    let authority: string;
    let path: string;
    if (url.startsWith('http://') || url.startsWith('https://')) {
      const start = url.indexOf('://') + 3;
      const slash = url.indexOf('/', start);
      const q = url.indexOf('?', start);
      const end = slash >= 0 ? slash : q >= 0 ? q : url.length;
      authority = url.slice(start, end);
      path = slash >= 0 ? url.slice(slash) : `/${url.slice(end)}`;
    } else {
      authority = req.headers.host ?? '';
      path = url;
    }
    // Envoy's default (accept_http_10: false): HTTP/1.0 gets 426 Upgrade Required.
    if (req.httpVersion === '1.0') {
      this.respondLocal(
        res,
        st,
        426,
        'Upgrade Required',
        null,
        [['content-type', 'text/plain']],
        undefined,
        'low_version',
      );
      return;
    }
    if (authority === '' || !path.startsWith('/')) {
      this.localReply(res, st, LOCAL_REPLIES.badRequest, null);
      return;
    }
    // Path normalization before routing (Istio's default pathNormalization: BASE).
    const normalized = normalizePath(path);
    if (normalized === null) {
      this.localReply(res, st, LOCAL_REPLIES.badRequest, null);
      return;
    }
    path = normalized;
    const remoteIp = normalizeIp(req.socket.remoteAddress);
    const headers = req.headers;
    const facts: RequestFacts = {
      authority,
      method: req.method ?? 'GET',
      path,
      scheme: 'http',
      port: splitAuthority(authority).port ?? 80,
      header: (name) => {
        const v = headers[name];
        if (v === undefined) return undefined;
        if (Array.isArray(v)) return v.join(',');
        // Node decodes header bytes as latin1; Envoy compares bytes, and the configuration is UTF-8 text.
        const text = NON_ASCII.test(v) ? Buffer.from(v, 'latin1').toString('utf8') : v;
        // Node joins repeated headers with ", "; Envoy's matchers see them joined with ",". Only then look closer.
        if (!text.includes(', ')) return text;
        const all = req.headersDistinct[name];
        return all && all.length > 1
          ? all.map((x) => (NON_ASCII.test(x) ? Buffer.from(x, 'latin1').toString('utf8') : x)).join(',')
          : text;
      },
      source: this.resolveSource(remoteIp),
    };
    st.facts = facts;
    st.requestId = typeof headers['x-request-id'] === 'string' ? headers['x-request-id'] : randomUUID();

    const decision = decide(table, facts, { rng: this.opts.rng });
    st.decision = decision;
    switch (decision.action) {
      case 'notFound':
        this.localReply(res, st, LOCAL_REPLIES.routeNotFound, null);
        return;
      case 'clusterNotFound':
        st.routeName = decision.route.name;
        this.localReply(res, st, LOCAL_REPLIES.clusterNotFound, decision.route);
        return;
      case 'redirect': {
        st.routeName = decision.route.name;
        const { status, location } = redirectTarget(decision.route, decision.matchIndex, facts);
        this.respondLocal(res, st, status, '', decision.route, [['location', location]]);
        return;
      }
      case 'directResponse':
        st.routeName = decision.route.name;
        await this.drainRequest(req, st);
        this.respondLocal(
          res,
          st,
          decision.status,
          decision.body ?? '',
          decision.route,
          decision.body ? [['content-type', 'text/plain']] : [],
        );
        return;
      case 'route':
        break;
    }
    await this.forward(req, res, st, table, decision, facts);
  }

  private async forward(
    req: IncomingMessage,
    res: ServerResponse,
    st: RequestState,
    table: RouteTable,
    decision: Extract<RouteDecision, { action: 'route' }>,
    facts: RequestFacts,
  ): Promise<void> {
    const route = decision.route;
    const action = route.action;
    if (action.type !== 'route') return;
    const dest = action.destinations[decision.destinationIndex]!;
    st.destination = dest;
    st.routeName = route.name;
    st.upstreamCluster = decision.cluster.name;
    const rng = this.opts.rng;
    const watch = st;

    // CORS (Envoy's cors filter runs before the fault filter).
    let corsHeaders: [string, string][] = [];
    if (route.cors) {
      const origin = facts.header('origin');
      if (origin !== undefined) {
        const allowed = route.cors.allowOrigin.some((m) => m(origin));
        const isPreflight = facts.method === 'OPTIONS' && facts.header('access-control-request-method') !== undefined;
        if (allowed) {
          corsHeaders = this.corsHeaders(route, origin, isPreflight);
          if (isPreflight) {
            await this.drainRequest(req, st);
            this.respondLocal(res, st, 200, '', route, corsHeaders);
            return;
          }
        } else if (isPreflight && route.cors.unmatchedPreflights === 'IGNORE') {
          await this.drainRequest(req, st);
          this.respondLocal(res, st, 200, '', route, []);
          return;
        }
      }
    }

    // Fault injection: delay (DI) then abort (FI), independent samples, before any upstream work.
    if (route.fault) {
      const f = route.fault;
      if (f.delay && rng() * 100 < f.delay.percent) {
        st.addFlag('DI');
        await sleepUnless(f.delay.fixedDelayMs, watch);
        if (watch.gone) return;
      }
      if (f.abort && rng() * 100 < f.abort.percent) {
        await this.drainRequest(req, st);
        if (f.abort.grpcStatus !== null) {
          st.grpcStatus = String(grpcCode(f.abort.grpcStatus));
          this.respondLocal(
            res,
            st,
            200,
            '',
            route,
            [
              ['content-type', 'application/grpc'],
              ['grpc-status', st.grpcStatus],
              ['grpc-message', 'fault filter abort'],
            ],
            'FI',
          );
        } else {
          this.localReply(res, st, { ...LOCAL_REPLIES.faultAbort, status: f.abort.httpStatus ?? 503 }, route);
        }
        return;
      }
    }

    // Request body: buffered for replay up to the limit (retries, mirrors), else streamed once.
    const body = await this.readBody(req, st);
    if (watch.gone) return;
    if (body.stream) st.bodyNotReplayable = true;

    // Upstream request headers.
    const upstreamPath = route.rewrite ? rewritePath(route, decision.matchIndex, facts.path) : facts.path;
    if (upstreamPath !== facts.path) st.originalPath = facts.path;
    const authorityOut = dest.authority ?? facts.authority;
    const fmt: FormatContext | null =
      dest.requestHeaders.length > 0 || dest.responseHeaders.length > 0 ? this.formatContext(req, facts) : null;
    const hdrs = this.upstreamHeaders(req, st, facts, authorityOut, dest.requestHeaders, fmt);
    if (st.originalPath !== null) hdrs.push('x-envoy-original-path', st.originalPath);

    // Mirrors: fire and forget, never wait, never fail the primary.
    if (route.mirrors.length > 0) this.sendMirrors(route, table, facts, req.method ?? 'GET', upstreamPath, hdrs, body);

    // Consistent hash for the host LB (the route's hash_policy list).
    const runtime = this.clusters.get(decision.cluster);
    let hash: bigint | null = null;
    let setCookies: string[] | null = null;
    const lbType = decision.cluster.policy.lb.type;
    if (decision.hashPolicies.length > 0 && (lbType === 'RING_HASH' || lbType === 'MAGLEV')) {
      // A cookie the sticky split generated for this request is the cookie the host hash uses too.
      const generated = decision.setCookie;
      const h = computeRequestHash(decision.hashPolicies.map(toLbHashPolicy), {
        header: (n) =>
          generated && n === 'cookie' ? withCookie(req.headers[n], generated.name, generated.value) : req.headers[n],
        path: facts.path,
        sourceIp: facts.source.ip ?? undefined,
        remoteAddress: { ip: normalizeIp(req.socket.remoteAddress), port: req.socket.remotePort ?? 0 },
        localAddress: { ip: normalizeIp(req.socket.localAddress), port: req.socket.localPort ?? 0 },
      });
      hash = h.hash;
      if (h.setCookies.length > 0) setCookies = [...h.setCookies];
    }
    if (decision.setCookie) {
      const c = decision.setCookie;
      (setCookies ??= []).push(
        makeSetCookieValue(c.name, c.value, c.path ?? '', Math.floor(c.ttlMs / 1000), c.attributes),
      );
    }

    // Attempts: Envoy's retry conditions, per-try timeout, route timeout over all attempts and backoffs.
    const policy = route.retries;
    const maxAttempts = 1 + (policy && !body.stream ? policy.attempts : 0);
    const routeDeadline = route.timeoutMs !== null ? performance.now() + route.timeoutMs : Number.POSITIVE_INFINITY;
    // Tried hosts by object: an endpoint update between attempts renumbers the cluster's hosts.
    let tried: Set<EndpointRuntime> | null = null;
    const exclude = policy?.retryIgnorePreviousHosts
      ? (i: number) => tried?.has(runtime.endpoints[i]!) === true
      : undefined;
    const attemptIdx = hdrs.length;
    hdrs.push('x-envoy-attempt-count', '1');
    let lastOutcome: AttemptOutcome | null = null;
    let lastReply: LocalReply = LOCAL_REPLIES.connectFailure;
    const method = req.method ?? 'GET';
    let retriesHeld = 0;
    const isGone = (): boolean => watch.gone;
    try {
      for (let attempt = 1; attempt <= maxAttempts; attempt++) {
        if (watch.gone) return;
        // Circuit breakers (per cluster): overflow is a local 503 UO and is never retried.
        let admitted = runtime.acquire(isGone);
        if (admitted !== true && admitted !== false) admitted = await admitted;
        if (!admitted) {
          if (watch.gone) return;
          this.localReply(res, st, LOCAL_REPLIES.overflow, route, setCookies ?? []);
          return;
        }
        const idx = runtime.pick(hash, rng, attempt > 1 ? exclude : undefined);
        if (idx < 0) {
          runtime.release();
          this.localReply(res, st, LOCAL_REPLIES.noHealthyUpstream, route, setCookies ?? []);
          return;
        }
        const ep = runtime.endpoints[idx]!;
        if (maxAttempts > 1) (tried ??= new Set()).add(ep);
        st.attempts = attempt;
        st.upstreamHost = ep.key;
        st.upstreamLabels = ep.labels;
        hdrs[attemptIdx + 1] = String(attempt);
        const remaining = routeDeadline - performance.now();
        if (remaining <= 0) {
          runtime.release();
          lastOutcome = { kind: 'per-try-timeout' };
          break;
        }
        const perTry = policy?.perTryTimeoutMs ?? null;
        const perTryFires = perTry !== null && perTry < remaining;
        const isLast = attempt === maxAttempts;
        const t0 = performance.now();
        ep.active++;
        let timedOutBy: 'per-try' | 'route' | null = null;
        let timer: NodeJS.Timeout | null = null;
        const onTimeout = (which: 'per-try' | 'route') => () => {
          timedOutBy = which;
          run.cancel('timeout');
        };
        const run = runAttempt({
          pool: ep.pool,
          path: upstreamPath,
          method,
          headers: hdrs,
          body: body.buffer ?? (body.stream ? Readable.from(streamOnce(body)) : null),
          res,
          onBytes: (n) => {
            st.bytesSent += n;
          },
          onHead: (status, rawHeaders) => {
            st.upstreamServiceTimeMs = performance.now() - t0;
            runtime.report(ep, { kind: 'response', status });
            if (!isLast && policy && performance.now() < routeDeadline) {
              const outcome: AttemptOutcome = { kind: 'response', status, headers: retryHeaderView(rawHeaders) };
              // A retry needs room under the cluster's max_retries; without it the response is returned.
              if (isRetriable(policy, outcome) && runtime.tryRetry()) {
                retriesHeld++;
                lastOutcome = outcome;
                return 'retry';
              }
            }
            // The per-try timeout covers only the wait for the response head; the route timeout goes on.
            if (perTryFires) {
              if (timer) clearTimeout(timer);
              timer = Number.isFinite(routeDeadline)
                ? setTimeout(onTimeout('route'), Math.max(1, routeDeadline - performance.now()))
                : null;
            }
            if (
              attempt > 1 &&
              policy &&
              isRetriable(policy, { kind: 'response', status, headers: retryHeaderView(rawHeaders) })
            )
              st.addFlag('URX');
            this.writeUpstreamHead(
              res,
              st,
              status,
              rawHeaders,
              dest.responseHeaders,
              setCookies,
              corsHeaders,
              fmt,
              ep.key,
            );
            return 'relay';
          },
        });
        const timeoutMs = perTryFires ? perTry! : remaining;
        if (Number.isFinite(timeoutMs))
          timer = setTimeout(onTimeout(perTryFires ? 'per-try' : 'route'), Math.max(1, timeoutMs));
        const onGone = (): void => run.cancel('client');
        watch.onGone = onGone;
        const result = await run.result;
        watch.onGone = null;
        if (timer) clearTimeout(timer);
        ep.active--;
        runtime.release();
        if (result.kind === 'relayed') {
          if (!result.complete && !watch.gone) {
            st.addFlag(timedOutBy ? 'UT' : 'UC');
            res.destroy();
          }
          return;
        }
        if (watch.gone) return;
        if (result.kind === 'retry') {
          await sleepUnless(backoffMs(attempt, policy!.backoffBaseMs, rng), watch);
          continue;
        }
        // No response head: a local-origin failure for outlier detection.
        runtime.report(ep, { kind: 'local-failure' });
        if (timedOutBy !== null) {
          lastOutcome = { kind: 'per-try-timeout' };
          lastReply = timedOutBy === 'route' ? LOCAL_REPLIES.timeout : LOCAL_REPLIES.perTryTimeout;
          if (timedOutBy === 'route') break; // the route timeout is never retried
        } else {
          const kind = classifyError(result.error);
          lastOutcome = kind === 'connect-failure' ? { kind } : { kind: 'reset', requestSent: result.requestSent };
          lastReply = kind === 'connect-failure' ? LOCAL_REPLIES.connectFailure : LOCAL_REPLIES.connectionTermination;
        }
        if (!isLast && policy && isRetriable(policy, lastOutcome) && runtime.tryRetry()) {
          retriesHeld++;
          await sleepUnless(backoffMs(attempt, policy.backoffBaseMs, rng), watch);
          continue;
        }
        break;
      }
    } finally {
      for (; retriesHeld > 0; retriesHeld--) runtime.retryDone();
    }
    // Every attempt failed without a response to relay.
    if (performance.now() >= routeDeadline) lastReply = LOCAL_REPLIES.timeout;
    if (st.attempts > 1 && lastOutcome && policy && isRetriable(policy, lastOutcome)) st.addFlag('URX');
    this.localReply(res, st, lastReply, route, setCookies ?? []);
  }

  private formatContext(req: IncomingMessage, facts: RequestFacts): FormatContext {
    return {
      downstreamRemoteAddress: `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? 0}`,
      downstreamLocalAddress: `${req.socket.localAddress ?? ''}:${req.socket.localPort ?? 0}`,
      protocol: `HTTP/${req.httpVersion}`,
      requestHeader: facts.header,
    };
  }

  /** Writes the downstream response head from an upstream head: hop-by-hop removed, weir's and the route's headers added. */
  private writeUpstreamHead(
    res: ServerResponse,
    st: RequestState,
    status: number,
    raw: Buffer[],
    destResponseOps: readonly HeaderOps[],
    setCookies: readonly string[] | null,
    corsHeaders: readonly [string, string][] | null,
    fmt: FormatContext | null,
    upstreamHost: string,
  ): void {
    st.status = status;
    const serviceTime = String(Math.round(st.upstreamServiceTimeMs ?? 0));
    let conn: Set<string> | null = null;
    const names: string[] = new Array(raw.length >> 1);
    for (let i = 0; i < raw.length; i += 2) {
      const lower = raw[i]!.toString('latin1').toLowerCase();
      names[i >> 1] = lower;
      if (lower === 'connection') conn = connectionTokens(raw[i + 1]!.toString('latin1'));
    }
    if (destResponseOps.length === 0) {
      // Fast path: copy the head as received, minus hop-by-hop headers.
      const out: string[] = [];
      for (let i = 0; i < raw.length; i += 2) {
        const lower = names[i >> 1]!;
        if (isHopByHop(lower, conn)) continue;
        const value = raw[i + 1]!.toString('latin1');
        if (lower === 'grpc-status') st.grpcStatus = value;
        out.push(lower, value);
      }
      out.push('x-envoy-upstream-service-time', serviceTime);
      if (setCookies) for (const c of setCookies) out.push('set-cookie', c);
      if (corsHeaders) for (const [k, v] of corsHeaders) out.push(k, v);
      if (this.draining) out.push('connection', 'close');
      res.writeHead(status, out);
      return;
    }
    const out: HeaderList = new Map();
    for (let i = 0; i < raw.length; i += 2) {
      const lower = names[i >> 1]!;
      if (isHopByHop(lower, conn)) continue;
      const value = raw[i + 1]!.toString('latin1');
      const prior = out.get(lower);
      if (prior) prior.push(value);
      else out.set(lower, [value]);
    }
    out.set('x-envoy-upstream-service-time', [serviceTime]);
    if (setCookies) out.set('set-cookie', [...(out.get('set-cookie') ?? []), ...setCookies]);
    if (corsHeaders) for (const [k, v] of corsHeaders) out.set(k, [v]);
    applyHeaderOps(out, destResponseOps, fmt ? { ...fmt, upstreamHost } : null);
    if (this.draining) out.set('connection', ['close']);
    st.grpcStatus = out.get('grpc-status')?.[0] ?? st.grpcStatus;
    res.writeHead(status, flatten(out));
  }

  private corsHeaders(route: CompiledRoute, origin: string, preflight: boolean): [string, string][] {
    const c = route.cors!;
    const out: [string, string][] = [['access-control-allow-origin', origin]];
    if (c.allowCredentials) out.push(['access-control-allow-credentials', 'true']);
    if (preflight) {
      if (c.allowMethods) out.push(['access-control-allow-methods', c.allowMethods]);
      if (c.allowHeaders) out.push(['access-control-allow-headers', c.allowHeaders]);
      if (c.maxAgeSeconds !== null) out.push(['access-control-max-age', String(c.maxAgeSeconds)]);
    } else if (c.exposeHeaders) out.push(['access-control-expose-headers', c.exposeHeaders]);
    return out;
  }

  /**
   * The upstream request head as a flat `[name, value, …]` list: `host` first (the authority, as `:authority`),
   * the client's headers minus hop-by-hop ones and `expect`, Envoy's `x-forwarded-for` (client IP appended),
   * `x-forwarded-proto` and `x-request-id` (generated when absent), then the route's header operations.
   */
  private upstreamHeaders(
    req: IncomingMessage,
    st: RequestState,
    facts: RequestFacts,
    authority: string,
    ops: readonly HeaderOps[],
    fmt: FormatContext | null,
  ): string[] {
    const raw = req.rawHeaders;
    const conn = req.headers.connection === undefined ? null : connectionTokens(req.headers.connection);
    const out: string[] = ['host', authority];
    let xffAt = -1;
    let hasProto = false;
    let hasRequestId = false;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      if (name === 'host' || name === 'expect' || isHopByHop(name, conn)) {
        if (name === 'te' && raw[i + 1]!.toLowerCase().includes('trailers')) out.push('te', 'trailers');
        continue;
      }
      if (name === 'x-forwarded-for') {
        if (xffAt >= 0) {
          out[xffAt + 1] = `${out[xffAt + 1]}, ${raw[i + 1]!}`;
          continue;
        }
        xffAt = out.length;
      } else if (name === 'x-forwarded-proto') hasProto = true;
      else if (name === 'x-request-id') hasRequestId = true;
      out.push(name, raw[i + 1]!);
    }
    const clientIp = normalizeIp(req.socket.remoteAddress);
    if (xffAt >= 0) out[xffAt + 1] = `${out[xffAt + 1]}, ${clientIp}`;
    else out.push('x-forwarded-for', clientIp);
    if (!hasProto) out.push('x-forwarded-proto', facts.scheme);
    if (!hasRequestId) out.push('x-request-id', st.requestId!);
    if (ops.length === 0) return out;
    const list: HeaderList = new Map();
    for (let i = 0; i < out.length; i += 2) {
      const prior = list.get(out[i]!);
      if (prior) prior.push(out[i + 1]!);
      else list.set(out[i]!, [out[i + 1]!]);
    }
    applyHeaderOps(list, ops, fmt);
    return flatten(list);
  }

  private async readBody(req: IncomingMessage, st: RequestState): Promise<BodyRead> {
    const watch: ClientWatch = st;
    const cl = req.headers['content-length'];
    const hasBody = (cl !== undefined && cl !== '0') || req.headers['transfer-encoding'] !== undefined;
    if (!hasBody) {
      if (!req.complete) req.resume();
      return { buffer: null, stream: null, bytes: 0 };
    }
    const limit = this.opts.replayBufferBytes;
    const chunks: Buffer[] = [];
    let size = 0;
    const it = req[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    try {
      for (;;) {
        if (watch.gone) return { buffer: null, stream: null, bytes: size };
        const { value, done } = await it.next();
        if (done) break;
        chunks.push(value);
        size += value.length;
        st.bytesReceived += value.length;
        if (size > limit) {
          const prefix = chunks;
          const rest = it;
          return {
            buffer: null,
            bytes: size,
            stream: (async function* () {
              yield* prefix;
              for (;;) {
                const n = await rest.next();
                if (n.done) return;
                st.bytesReceived += n.value.length;
                yield n.value;
              }
            })(),
          };
        }
      }
    } catch {
      return { buffer: null, stream: null, bytes: size };
    }
    return { buffer: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size), stream: null, bytes: size };
  }

  private async drainRequest(req: IncomingMessage, st?: RequestState): Promise<void> {
    if (req.complete) return;
    if (st) req.on('data', (c: Buffer) => (st.bytesReceived += c.length));
    req.resume();
    await new Promise<void>((resolve) => {
      req.once('end', resolve);
      req.once('close', resolve);
      req.once('error', () => resolve());
    });
  }

  private sendMirrors(
    route: CompiledRoute,
    table: RouteTable,
    facts: RequestFacts,
    method: string,
    path: string,
    hdrs: readonly string[],
    body: BodyRead,
  ): void {
    for (const m of route.mirrors) {
      if (this.opts.rng() * 100 >= m.percent) continue;
      this.sendMirror(m, route, table, facts, method, path, hdrs, body);
    }
  }

  private sendMirror(
    m: MirrorPolicy,
    route: CompiledRoute,
    table: RouteTable,
    facts: RequestFacts,
    method: string,
    path: string,
    hdrs: readonly string[],
    body: BodyRead,
  ): void {
    const cluster = table.cluster(m.host, m.subset, m.port, facts.port);
    const report = (r: Omit<MirrorRecord, 'route' | 'mirror'>): void =>
      this.opts.onMirror?.({ ...r, route, mirror: m });
    if (!cluster) return; // Envoy shadows only to clusters that exist
    if (body.stream) {
      report({ cluster: cluster.name, status: -1, outcome: 'dropped-body-too-large', durationMs: 0 });
      return;
    }
    if (this.mirrorsInFlight >= this.opts.maxConcurrentMirrors) {
      report({ cluster: cluster.name, status: -1, outcome: 'dropped-overload', durationMs: 0 });
      return;
    }
    const runtime = this.clusters.get(cluster);
    const idx = runtime.pick(null, this.opts.rng);
    if (idx < 0) {
      report({ cluster: cluster.name, status: -1, outcome: 'dropped-no-endpoint', durationMs: 0 });
      return;
    }
    const ep = runtime.endpoints[idx]!;
    // The shadow carries the primary's final headers (after rewrites), its Host suffixed with -shadow.
    const shadowHeaders: string[] = [];
    for (let i = 0; i < hdrs.length; i += 2) {
      const name = hdrs[i]!;
      if (name === 'x-envoy-attempt-count') continue;
      shadowHeaders.push(name, name === 'host' && this.opts.shadowSuffix ? shadowHost(hdrs[i + 1]!) : hdrs[i + 1]!);
    }
    const timeoutMs = Math.min(route.timeoutMs ?? this.opts.mirrorTimeoutMs, this.opts.mirrorTimeoutMs);
    this.mirrorsInFlight++;
    ep.active++;
    const t0 = performance.now();
    const signal = AbortSignal.timeout(timeoutMs);
    dispatcherRequest(ep.pool, { path, method: method as 'GET', headers: shadowHeaders, body: body.buffer, signal })
      .then(
        async (r) => {
          await r.body.dump({ limit: Number.MAX_SAFE_INTEGER }).catch(() => {});
          report({ cluster: cluster.name, status: r.statusCode, outcome: 'sent', durationMs: performance.now() - t0 });
        },
        () => report({ cluster: cluster.name, status: 0, outcome: 'failed', durationMs: performance.now() - t0 }),
      )
      .finally(() => {
        this.mirrorsInFlight--;
        ep.active--;
      });
  }

  /** A local reply with Envoy's status, flag and body, plus the route's response header operations. */
  private localReply(
    res: ServerResponse,
    st: RequestState,
    reply: LocalReply,
    route: CompiledRoute | null,
    setCookies: readonly string[] = [],
  ): void {
    if (reply.flag) st.addFlag(reply.flag);
    st.details = reply.details;
    const extra: [string, string][] = reply.flag === 'UO' ? [['x-envoy-overloaded', 'true']] : [];
    for (const c of setCookies) extra.push(['set-cookie', c]);
    if (reply.body) extra.push(['content-type', 'text/plain']);
    this.respondLocal(res, st, reply.status, reply.body, route, extra);
  }

  private respondLocal(
    res: ServerResponse,
    st: RequestState,
    status: number,
    body: string,
    route: CompiledRoute | null,
    extra: [string, string][],
    flag?: string,
    details?: string,
  ): void {
    if (flag) st.addFlag(flag);
    if (details) st.details = details;
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    const out: HeaderList = new Map();
    for (const [k, v] of extra) {
      const prior = out.get(k);
      if (prior) prior.push(v);
      else out.set(k, [v]);
    }
    // Response header operations apply to local replies too (route level, e.g. content-type for directResponse).
    if (
      route?.headers &&
      route.headers.response.set.length + route.headers.response.add.length + route.headers.response.remove.length > 0
    ) {
      applyHeaderOps(out, [route.headers.response], null);
    }
    const buf = Buffer.from(body, 'latin1');
    out.set('content-length', [String(buf.length)]);
    if (this.draining) out.set('connection', ['close']);
    st.status = status;
    st.bytesSent = buf.length;
    res.writeHead(status, flatten(out));
    res.end(buf);
  }

  private internalError(res: ServerResponse, err: unknown): void {
    process.stderr.write(`weir: internal error while serving a request: ${(err as Error)?.stack ?? String(err)}\n`);
    if (!res.headersSent && !res.destroyed) {
      res.writeHead(500, { 'content-type': 'text/plain', 'content-length': '14' });
      res.end('internal error');
    } else res.destroy();
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const code = err.code ?? '';
    if (code === 'ECONNRESET' || code === 'HPE_INVALID_EOF_STATE' || !socket.writable) {
      socket.destroy();
      return;
    }
    const reply = code === 'HPE_HEADER_OVERFLOW' ? LOCAL_REPLIES.headersTooLarge : LOCAL_REPLIES.badRequest;
    const reason = reply.status === 431 ? 'Request Header Fields Too Large' : 'Bad Request';
    const body = Buffer.from(reply.body);
    socket.end(
      `HTTP/1.1 ${reply.status} ${reason}\r\ncontent-length: ${body.length}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${reply.body}`,
    );
    this.opts.accessLog?.write({
      startTime: new Date(),
      method: '-',
      path: '-',
      protocol: 'HTTP/1.1',
      responseCode: reply.status,
      responseFlags: reply.flag ?? '-',
      responseCodeDetails: `${reply.details}${code ? `{${code}}` : ''}`,
      connectionTerminationDetails: '',
      upstreamTransportFailureReason: '',
      bytesReceived: 0,
      bytesSent: body.length,
      durationMs: 0,
      upstreamServiceTimeMs: null,
      xForwardedFor: null,
      userAgent: null,
      requestId: null,
      authority: null,
      upstreamHost: null,
      upstreamCluster: null,
      upstreamLocalAddress: null,
      downstreamLocalAddress: socket.localAddress ? `${socket.localAddress}:${socket.localPort}` : null,
      downstreamRemoteAddress: socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : null,
      routeName: null,
      attempts: 0,
      bodyNotReplayable: false,
    });
  }

  private complete(req: IncomingMessage, st: RequestState): void {
    if (st.done) return;
    st.done = true;
    const durationMs = performance.now() - st.startMs;
    const flags = formatFlags(st.flags);
    const facts = st.facts;
    this.opts.accessLog?.write({
      startTime: st.startTime,
      method: req.method ?? '-',
      path: st.originalPath ?? facts?.path ?? req.url ?? '-',
      protocol: `HTTP/${req.httpVersion}`,
      responseCode: st.status,
      responseFlags: flags,
      responseCodeDetails: st.details || (st.status > 0 && st.upstreamHost ? 'via_upstream' : ''),
      connectionTerminationDetails: '',
      upstreamTransportFailureReason: '',
      bytesReceived: st.bytesReceived,
      bytesSent: st.bytesSent,
      durationMs,
      upstreamServiceTimeMs: st.upstreamServiceTimeMs,
      xForwardedFor: (req.headers['x-forwarded-for'] as string | undefined) ?? null,
      userAgent: req.headers['user-agent'] ?? null,
      requestId: st.requestId,
      authority: facts?.authority ?? req.headers.host ?? null,
      upstreamHost: st.upstreamHost,
      upstreamCluster: st.upstreamCluster,
      upstreamLocalAddress: null,
      downstreamLocalAddress: `${req.socket.localAddress ?? ''}:${req.socket.localPort ?? 0}`,
      downstreamRemoteAddress: `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? 0}`,
      routeName: st.routeName,
      attempts: st.attempts,
      bodyNotReplayable: st.bodyNotReplayable,
    });
    if (this.opts.onRequest) {
      try {
        this.opts.onRequest({
          decision: st.decision,
          destination: st.destination,
          upstreamLabels: st.upstreamLabels,
          upstreamHost: st.upstreamHost,
          source: facts?.source ?? null,
          method: req.method ?? '-',
          authority: facts?.authority ?? '',
          protocol: `HTTP/${req.httpVersion}`,
          status: st.status,
          responseFlags: flags,
          durationMs,
          requestBytes: st.bytesReceived,
          responseBytes: st.bytesSent,
          attempts: st.attempts,
          grpcStatus: st.grpcStatus,
        });
      } catch {
        // metrics must never fail a request
      }
    }
  }
}

function _headers(req: IncomingMessage, name: string): string | readonly string[] | undefined {
  const v = req.headers[name];
  return v;
}

function withCookie(existing: string | readonly string[] | undefined, name: string, value: string): string {
  const prior = existing === undefined ? '' : Array.isArray(existing) ? existing.join('; ') : (existing as string);
  return prior ? `${prior}; ${name}=${value}` : `${name}=${value}`;
}

function streamOnce(body: BodyRead): AsyncIterable<Buffer> {
  const s = body.stream!;
  body.stream = null;
  return s;
}

/** Envoy's shadow Host: `-shadow` appended to the host, before any port (`foo:8080` → `foo-shadow:8080`). */
export function shadowHost(authority: string): string {
  const { host, port } = splitAuthority(authority);
  return port === null ? `${authority}-shadow` : `${host}-shadow:${port}`;
}

function toLbHashPolicy(p: HashPolicy): LbHashPolicy {
  switch (p.type) {
    case 'header':
      return { type: 'header', headerName: p.name };
    case 'cookie':
      return {
        type: 'cookie',
        name: p.name,
        path: p.path ?? '',
        ...(p.ttlMs !== null ? { ttlSeconds: Math.trunc(p.ttlMs / 1000) } : {}),
        attributes: p.attributes,
      };
    case 'sourceIp':
      return { type: 'sourceIp' };
    case 'queryParameter':
      return { type: 'queryParameter', name: p.name };
  }
}

const GRPC_STATUS: Readonly<Record<string, number>> = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
};

function grpcCode(name: string): number {
  return GRPC_STATUS[name] ?? 2;
}

/** Classifies an undici error: a failed connect, a reset before any request byte was sent, or a later reset. */
function classifyError(err: unknown): 'connect-failure' | 'reset-before-request' | 'reset' {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e?.code ?? '';
  const causeCode = e?.cause?.code ?? '';
  if (err instanceof undiciErrors.ConnectTimeoutError) return 'connect-failure';
  const connectCodes = [
    'ECONNREFUSED',
    'EHOSTUNREACH',
    'ENETUNREACH',
    'ENOTFOUND',
    'EAI_AGAIN',
    'EADDRNOTAVAIL',
    'UND_ERR_CONNECT_TIMEOUT',
  ];
  if (connectCodes.includes(code) || connectCodes.includes(causeCode)) return 'connect-failure';
  return 'reset';
}
