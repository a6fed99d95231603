/**
 * The access log: one line per request in Istio's default text format (MeshConfig `accessLogFormat` default,
 * istio/istio `pkg/config/mesh` / `pilot/pkg/model/telemetry_logging.go`) or, with `json`, one JSON object per
 * line with Istio's JSON keys. Written to a stream (stdout) in batches; never throws on the request path.
 */

/** What one access-log line says about a request. Durations in ms, sizes in bytes. */
export interface AccessLogEntry {
  startTime: Date;
  method: string;
  /** `x-envoy-original-path` if the path was rewritten, else the path. */
  path: string;
  protocol: string;
  /** 0 when no response was sent (downstream disconnect). */
  responseCode: number;
  /** Comma-separated Envoy flags, or `-`. */
  responseFlags: string;
  responseCodeDetails: string;
  connectionTerminationDetails: string;
  upstreamTransportFailureReason: string;
  bytesReceived: number;
  bytesSent: number;
  durationMs: number;
  upstreamServiceTimeMs: number | null;
  xForwardedFor: string | null;
  userAgent: string | null;
  requestId: string | null;
  authority: string | null;
  upstreamHost: string | null;
  upstreamCluster: string | null;
  upstreamLocalAddress: string | null;
  downstreamLocalAddress: string | null;
  downstreamRemoteAddress: string | null;
  routeName: string | null;
  /** Number of upstream attempts (weir addition; shows retries and the body-too-large-to-retry case). */
  attempts: number;
  /** True when the request body exceeded the replay buffer, so retries and mirroring were skipped. */
  bodyNotReplayable: boolean;
}

/** `text` (Istio's default) or `json`. */
export type AccessLogFormat = 'text' | 'json';

const dash = (v: string | number | null | undefined): string =>
  v === null || v === undefined || v === '' ? '-' : String(v);

/** Formats one entry in Istio's default text format. */
export function formatText(e: AccessLogEntry): string {
  return (
    `[${e.startTime.toISOString()}] "${e.method} ${e.path} ${e.protocol}" ${e.responseCode} ${dash(e.responseFlags)} ${dash(e.responseCodeDetails)} ${dash(e.connectionTerminationDetails)} ` +
    `"${dash(e.upstreamTransportFailureReason)}" ${e.bytesReceived} ${e.bytesSent} ${Math.round(e.durationMs)} ${dash(e.upstreamServiceTimeMs === null ? null : Math.round(e.upstreamServiceTimeMs))} ` +
    `"${dash(e.xForwardedFor)}" "${dash(e.userAgent)}" "${dash(e.requestId)}" "${dash(e.authority)}" "${dash(e.upstreamHost)}" ${dash(e.upstreamCluster)} ` +
    `${dash(e.upstreamLocalAddress)} ${dash(e.downstreamLocalAddress)} ${dash(e.downstreamRemoteAddress)} - ${dash(e.routeName)}\n`
  );
}

/** Formats one entry as Istio's JSON access log object (one line). */
export function formatJson(e: AccessLogEntry): string {
  return `${JSON.stringify({
    start_time: e.startTime.toISOString(),
    method: e.method,
    path: e.path,
    protocol: e.protocol,
    response_code: e.responseCode,
    response_flags: e.responseFlags || '-',
    response_code_details: e.responseCodeDetails || null,
    connection_termination_details: e.connectionTerminationDetails || null,
    upstream_transport_failure_reason: e.upstreamTransportFailureReason || null,
    bytes_received: e.bytesReceived,
    bytes_sent: e.bytesSent,
    duration: Math.round(e.durationMs),
    upstream_service_time: e.upstreamServiceTimeMs === null ? null : String(Math.round(e.upstreamServiceTimeMs)),
    x_forwarded_for: e.xForwardedFor,
    user_agent: e.userAgent,
    request_id: e.requestId,
    authority: e.authority,
    upstream_host: e.upstreamHost,
    upstream_cluster: e.upstreamCluster,
    upstream_local_address: e.upstreamLocalAddress,
    downstream_local_address: e.downstreamLocalAddress,
    downstream_remote_address: e.downstreamRemoteAddress,
    requested_server_name: null,
    route_name: e.routeName,
    attempts: e.attempts,
    body_not_replayable: e.bodyNotReplayable || undefined,
  })}\n`;
}

/**
 * Writes access-log lines to a stream in batches, as Envoy's file access log does (it flushes every second by
 * default, `file_flush_interval_msec`): lines are queued and written together every `flushIntervalMs` (default
 * 100 ms) or as soon as `maxBufferBytes` (default 64 KiB) is queued, so that a busy proxy does not pay one write
 * system call per request. `flush()` writes what is queued at once (shutdown, tests).
 */
export class AccessLogWriter {
  private buffer: string[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly stream: NodeJS.WritableStream,
    readonly format: AccessLogFormat,
    private readonly flushIntervalMs = 100,
    private readonly maxBufferBytes = 64 * 1024,
  ) {}

  /** Queues one entry. Never throws. */
  write(e: AccessLogEntry): void {
    try {
      const line = this.format === 'json' ? formatJson(e) : formatText(e);
      this.buffer.push(line);
      this.bytes += line.length;
      if (this.bytes >= this.maxBufferBytes) this.flush();
      else if (this.timer === null) {
        this.timer = setTimeout(() => this.flush(), this.flushIntervalMs);
        this.timer.unref();
      }
    } catch {
      // never fail a request because of logging
    }
  }

  /** Writes what is queued. */
  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.buffer.length === 0) return;
    const text = this.buffer.join('');
    this.buffer = [];
    this.bytes = 0;
    try {
      this.stream.write(text);
    } catch {
      // stream closed
    }
  }
}
