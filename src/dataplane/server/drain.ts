/**
 * The downstream connections of the proxy's listener and their graceful drain, modelled on how Istio stops a proxy:
 * on SIGTERM pilot-agent asks Envoy to drain its listeners gracefully (`POST /drain_listeners?graceful`) and stops
 * Envoy once `terminationDrainDuration` (default 5 s) has passed. During Envoy's graceful drain the listeners keep
 * accepting; on HTTP/1.1 every response is sent with `connection: close` and its connection is closed after it
 * (Envoy `ConnectionManagerImpl::ActiveStream::encodeHeaders`, "If the connection manager is draining send
 * Connection: Close on HTTP/1.1 connections"); the admin `/ready` answers 503 `DRAINING`.
 *
 * HTTP/1.1 cannot tell a client not to send on an idle keep-alive connection: closing one races with a request the
 * client may be writing on it at that moment (RFC 9112 §9.6), and the client sees a reset. So a connection in use is
 * never closed between two requests: its next request is answered with `connection: close`. Only a connection that
 * has stayed idle (no request, no byte read) for the drain idle time ({@link DRAIN_IDLE_MS}) is closed, by a half-close (FIN) that waits
 * {@link DELAYED_CLOSE_TIMEOUT_MS} for the client to close its side before the socket is destroyed (Envoy's
 * `delayed_close_timeout`, 1 s by default).
 *
 * The drain ends at the drain limit, or earlier once no connection has been open for the idle time (Istio's
 * `EXIT_ON_ZERO_ACTIVE_CONNECTIONS` mode, without its minimum drain duration; by default pilot-agent waits the whole
 * `terminationDrainDuration` — see docs/compatibility.md). The quiet period keeps a client that reconnects after a
 * `connection: close` from finding the listener gone.
 */
import type { Socket } from 'node:net';

/** Istio's `terminationDrainDuration` default (ProxyConfig; pilot-agent `TERMINATION_DRAIN_DURATION_SECONDS`), ms. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 5_000;

/**
 * The default idle time of a drain, ms: how long a downstream connection must have been idle (no request in
 * progress, no byte read) before weir closes it, and how long the listener must have had no connection open before
 * the drain ends early. Long against the time a client takes to reuse a connection it is using or to reconnect (µs
 * to ms), short against the drain limit.
 */
export const DRAIN_IDLE_MS = 1_000;

/** Envoy's HTTP connection manager `delayed_close_timeout` default: after weir's FIN, wait this long for the client's, ms. */
export const DELAYED_CLOSE_TIMEOUT_MS = 1_000;

/** How often the drain looks for connections idle long enough to close, ms. */
const IDLE_CHECK_INTERVAL_MS = 100;

/** How a drain ended: every connection closed, or the drain limit was reached with connections still open. */
export type DrainEnd = 'drained' | 'limit';

interface ConnectionState {
  /** Requests received and not yet answered (more than 1 only for pipelined requests). */
  requests: number;
  /** When the connection last became idle (accepted, or its last response finished), ms on the injected clock. */
  idleSinceMs: number;
  /** `socket.bytesRead` when it became idle: a change means a request is arriving. */
  bytesReadWhenIdle: number;
  /** weir has half-closed it and waits for the client's FIN. */
  closing: boolean;
}

/** Tracks the listener's connections (`add` on `connection`, `requestStarted`/`requestEnded` per request) and drains them. */
export class DownstreamConnections {
  private readonly open = new Map<Socket, ConnectionState>();
  private draining = false;
  /** While draining: called when the last connection closes, and when one opens. */
  private emptied: (() => void) | null = null;
  private opened: (() => void) | null = null;
  private closedWaiters: (() => void)[] = [];

  /**
   * @param now monotonic clock in ms (`performance.now` in the proxy).
   * @param idleMs the drain idle time, ms (default {@link DRAIN_IDLE_MS}).
   */
  constructor(
    private readonly now: () => number,
    private readonly idleMs = DRAIN_IDLE_MS,
  ) {}

  /** Connections open now. */
  get size(): number {
    return this.open.size;
  }

  /** Starts tracking a new connection; it counts as idle from now. */
  add(socket: Socket): void {
    this.open.set(socket, { requests: 0, idleSinceMs: this.now(), bytesReadWhenIdle: 0, closing: false });
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

  /** A request arrived on `socket`. */
  requestStarted(socket: Socket): void {
    const c = this.open.get(socket);
    if (c) c.requests++;
  }

  /** The response to a request on `socket` is finished (or abandoned); the connection is idle again if nothing else is pending. */
  requestEnded(socket: Socket): void {
    const c = this.open.get(socket);
    if (!c || c.requests === 0) return;
    c.requests--;
    if (c.requests === 0) {
      c.idleSinceMs = this.now();
      c.bytesReadWhenIdle = socket.bytesRead;
    }
  }

  /** Whether weir has half-closed this connection: a request still arriving on it cannot be answered. */
  isClosing(socket: Socket): boolean {
    return this.open.get(socket)?.closing === true || socket.writableEnded;
  }

  /**
   * Drains the connections: closes each once it has been idle for the idle time (connections in use close
   * themselves after a response carrying `connection: close`, which the proxy adds while draining). Resolves
   * `drained` once no connection has been open for the idle time, or `limit` after `limitMs` with
   * connections still open (the caller then destroys them). `stopListening` is called exactly once, synchronously
   * with the decision, so that no connection is accepted between the decision and the listener closing.
   */
  drain(limitMs: number, stopListening: () => void): Promise<DrainEnd> {
    this.draining = true;
    return new Promise<DrainEnd>((resolve) => {
      let done = false;
      let quiet: NodeJS.Timeout | null = null;
      const finish = (end: DrainEnd): void => {
        if (done) return;
        done = true;
        clearInterval(check);
        clearTimeout(limit);
        if (quiet) clearTimeout(quiet);
        this.emptied = null;
        this.opened = null;
        stopListening();
        resolve(end);
      };
      const check = setInterval(() => this.closeIdle(), IDLE_CHECK_INTERVAL_MS);
      const limit = setTimeout(() => finish(this.open.size === 0 ? 'drained' : 'limit'), Math.max(0, limitMs));
      this.emptied = () => {
        if (quiet) clearTimeout(quiet);
        quiet = setTimeout(() => finish('drained'), Math.min(this.idleMs, Math.max(0, limitMs)));
      };
      this.opened = () => {
        if (quiet) clearTimeout(quiet);
        quiet = null;
      };
      if (this.open.size === 0) this.emptied();
      else this.closeIdle();
    });
  }

  /** Resolves once no connection is open (every socket has emitted `close`). */
  allClosed(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.closedWaiters.push(resolve));
  }

  /** Destroys every open connection (at the drain limit: requests in flight are cut). */
  destroyAll(): void {
    for (const s of this.open.keys()) s.destroy();
  }

  /** Half-closes the connections idle long enough; destroys those whose client has not closed its side in time. */
  private closeIdle(): void {
    if (!this.draining) return;
    const now = this.now();
    for (const [socket, c] of this.open) {
      if (c.closing || c.requests > 0) continue;
      if (socket.writableEnded) {
        // weir already ended it (a response with `connection: close`): wait for the client's FIN, bounded.
        this.closeGracefully(socket, c);
        continue;
      }
      if (socket.bytesRead !== c.bytesReadWhenIdle) {
        // Bytes of a request are arriving: not idle.
        c.idleSinceMs = now;
        c.bytesReadWhenIdle = socket.bytesRead;
        continue;
      }
      if (now - c.idleSinceMs >= this.idleMs) this.closeGracefully(socket, c);
    }
  }

  private closeGracefully(socket: Socket, c: ConnectionState): void {
    c.closing = true;
    if (!socket.writableEnded) socket.end();
    setTimeout(() => socket.destroy(), DELAYED_CLOSE_TIMEOUT_MS).unref();
  }
}
