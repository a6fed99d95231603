/**
 * The downstream connections of the proxy's listener and their graceful drain, modelled on how Istio stops a proxy:
 * on SIGTERM pilot-agent asks Envoy to drain its listeners gracefully (`POST /drain_listeners?graceful`) and stops
 * Envoy once `terminationDrainDuration` (default 5 s) has passed. During Envoy's graceful drain the listeners keep
 * accepting; on HTTP/1.1 every response is sent with `connection: close` and its connection is closed after it
 * (Envoy `ConnectionManagerImpl::ActiveStream::encodeHeaders`, "If the connection manager is draining send
 * Connection: Close on HTTP/1.1 connections"); idle HTTP/1.1 connections are not touched until the listeners go at
 * the end (HTTP/1.1 cannot tell a client not to send on an idle keep-alive connection: closing one races with a
 * request the client may be writing on it, RFC 9112 §9.6). The admin `/ready` answers 503 `DRAINING` (Envoy's
 * server state once its health check is failed, `/healthcheck/fail`).
 *
 * weir does the same: nothing is closed under a client before the drain ends (node:http closes a connection once a
 * response with `connection: close` has been written). The drain ends at the drain limit — every connection still
 * open is then destroyed, the requests in flight cut — or earlier once no connection has been open for the quiet time
 * ({@link DRAIN_QUIET_MS}), like Istio's `EXIT_ON_ZERO_ACTIVE_CONNECTIONS` mode without its minimum drain duration
 * (by default pilot-agent waits the whole `terminationDrainDuration`; see docs/compatibility.md). The quiet time
 * keeps a client that reconnects after a `connection: close` from finding the listener gone.
 */
import type { Socket } from 'node:net';

/** Istio's `terminationDrainDuration` default (ProxyConfig; pilot-agent `TERMINATION_DRAIN_DURATION_SECONDS`), ms. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 5_000;

/**
 * How long the listener must have had no connection open before a drain ends early, ms. Long against the time a
 * client takes to reconnect after a `connection: close` (µs to ms), short against the drain limit.
 */
export const DRAIN_QUIET_MS = 1_000;

/** How a drain ended: every connection closed, or the drain limit was reached with connections still open. */
export type DrainEnd = 'drained' | 'limit';

/** Tracks the listener's connections (`add` on `connection`) and drains them. */
export class DownstreamConnections {
  private readonly open = new Set<Socket>();
  /** While draining: called when the last connection closes, and when one opens. */
  private emptied: (() => void) | null = null;
  private opened: (() => void) | null = null;
  private closedWaiters: (() => void)[] = [];

  /** @param quietMs the quiet time that ends a drain early, ms (default {@link DRAIN_QUIET_MS}). */
  constructor(private readonly quietMs = DRAIN_QUIET_MS) {}

  /** Connections open now. */
  get size(): number {
    return this.open.size;
  }

  /** Starts tracking a new connection. */
  add(socket: Socket): void {
    this.open.add(socket);
    this.opened?.();
    socket.once('close', () => {
      this.open.delete(socket);
      if (this.open.size > 0) return;
      this.emptied?.();
      // Resolved after every 'close' listener of this socket has run (the response's included: its access-log line
      // is written by then).
      for (const w of this.closedWaiters.splice(0)) w();
    });
  }

  /**
   * Drains the connections: connections in use close after a response carrying `connection: close` (which the proxy
   * adds while draining); idle ones stay until the end. Resolves `drained` once no connection has been open for the
   * quiet time, or `limit` after `limitMs` with connections still open (the caller then destroys them).
   * `stopListening` is called exactly once, synchronously with the decision, so that no connection is accepted
   * between the decision and the listener closing.
   */
  drain(limitMs: number, stopListening: () => void): Promise<DrainEnd> {
    return new Promise<DrainEnd>((resolve) => {
      let done = false;
      let quiet: NodeJS.Timeout | null = null;
      const finish = (end: DrainEnd): void => {
        if (done) return;
        done = true;
        clearTimeout(limit);
        if (quiet) clearTimeout(quiet);
        this.emptied = null;
        this.opened = null;
        stopListening();
        resolve(end);
      };
      const limit = setTimeout(() => finish(this.open.size === 0 ? 'drained' : 'limit'), Math.max(0, limitMs));
      this.emptied = () => {
        if (quiet) clearTimeout(quiet);
        quiet = setTimeout(() => finish('drained'), Math.min(this.quietMs, Math.max(0, limitMs)));
      };
      this.opened = () => {
        if (quiet) clearTimeout(quiet);
        quiet = null;
      };
      if (this.open.size === 0) this.emptied();
    });
  }

  /** Resolves once no connection is open (every socket has emitted `close`). */
  allClosed(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.closedWaiters.push(resolve));
  }

  /** Destroys every open connection (at the drain limit: requests in flight are cut). */
  destroyAll(): void {
    for (const s of this.open) s.destroy();
  }
}
