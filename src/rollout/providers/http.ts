/**
 * The one HTTP GET of the metric providers (issue 8): global `fetch` with a timeout covering the whole exchange, one
 * retry when a kept-alive connection turns out to be closed (a proxy or Prometheus that restarted since the last
 * read), and failures described in one line.
 */

/** Socket errors after which a GET is retried once: the pooled connection was dead before the request was sent. */
const STALE_CONNECTION_CODES: ReadonlySet<string> = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

function causeCode(e: unknown): string | undefined {
  const cause = e instanceof Error ? (e.cause as { code?: unknown } | undefined) : undefined;
  return typeof cause?.code === 'string' ? cause.code : undefined;
}

/** A fetch failure as one line: timeouts say so (`no answer within N ms`), network errors give their cause's code. */
export function describeFetchError(e: unknown, timeoutMs: number): string {
  if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) {
    return `no answer within ${timeoutMs} ms`;
  }
  const code = causeCode(e);
  const cause = e instanceof Error ? (e.cause as { message?: unknown } | undefined) : undefined;
  if (code) return `${code}${typeof cause?.message === 'string' && cause.message ? ` (${cause.message})` : ''}`;
  return e instanceof Error ? e.message : String(e);
}

/**
 * GETs `url` and returns its status and body text. The whole exchange (connect, headers, body) must end within
 * `timeoutMs`. Rejects with an Error whose message is {@link describeFetchError}'s line.
 */
export async function getText(url: string | URL, timeoutMs: number): Promise<{ status: number; body: string }> {
  const signal = AbortSignal.timeout(timeoutMs);
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(url, { signal, headers: { accept: 'application/json' } });
      return { status: res.status, body: await res.text() };
    } catch (e) {
      const code = causeCode(e);
      if (attempt === 0 && code !== undefined && STALE_CONNECTION_CODES.has(code) && !signal.aborted) continue;
      throw new Error(describeFetchError(e, timeoutMs));
    }
  }
}
