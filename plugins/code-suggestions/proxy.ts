import type { Pool } from 'undici';
import type { Logger, GatehouseContext } from 'gatehouse';
import { RelayHandler } from './relay-handler.js';

export { BadGatewayError, GatewayTimeoutError } from './relay-handler.js';

/**
 * Client headers passed on to the AI gateway. Everything else stays here — above all the caller's
 * credentials (PRIVATE-TOKEN, Authorization, Cookie) and any identity header a client might try to
 * set itself: gatehouse states the identity.
 */
const FORWARDED_HEADERS = ['user-agent', 'x-gitlab-language-server-version', 'x-supports-sse-streaming', 'accept'] as const;
/** Editor telemetry headers GitLab 16.x forwarded (`/\Ax-gitlab-cs-/i`). */
const TELEMETRY_PREFIX = 'x-gitlab-cs-';

export interface UpstreamOptions {
  baseUrl: string;
  timeoutMs: number;
  connections: number;
  logger: Logger;
}

/**
 * The AI gateway as an upstream: one keep-alive undici pool (not fetch: see DESIGN §7), explicit
 * timeouts, responses relayed chunk by chunk. undici is loaded with the first completion, so a
 * gateway that never proxies one does not pay for it at boot.
 */
export class AiGatewayUpstream {
  private pool?: Pool;
  private loading?: Promise<Pool>;
  private closed = false;
  private readonly origin: string;
  private readonly basePath: string;
  readonly baseUrl: string;

  constructor(private readonly options: UpstreamOptions) {
    const url = new URL(options.baseUrl);
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
  }

  private loadPool(): Promise<Pool> {
    return (this.loading ??= import('undici').then(({ Pool: UndiciPool }) => {
      const { timeoutMs, connections } = this.options;
      this.pool = new UndiciPool(this.origin, {
        connections,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        connect: { timeout: Math.min(timeoutMs, 10_000) },
      });
      if (this.closed) void this.pool.close();
      return this.pool;
    }));
  }

  /** The headers of the client's request that may go upstream (allowlist + telemetry prefix). */
  static forwardedHeaders(ctx: GatehouseContext, into: Record<string, string>): void {
    const incoming = ctx.req.headers;
    for (const name of FORWARDED_HEADERS) {
      const value = incoming[name];
      if (typeof value === 'string') into[name] = value;
    }
    for (const name in incoming) {
      if (name.startsWith(TELEMETRY_PREFIX)) {
        const value = incoming[name];
        if (typeof value === 'string') into[name] = value;
      }
    }
  }

  /**
   * POSTs `body` to `<base><path>` and relays the answer (see RelayHandler): 2xx and 4xx with their
   * status, content type, `X-Streaming-Format` and body — streamed for streaming requests and answers
   * of unknown or large size —, 5xx and transport failures as 502, no response headers within
   * `timeoutMs` as 504. A client that goes away aborts the upstream request.
   */
  async relay(ctx: GatehouseContext, path: string, headers: Record<string, string>, body: string, streaming: boolean): Promise<void> {
    const pool = this.pool ?? (await this.loadPool());
    const handler = new RelayHandler(ctx, streaming, path, this.options.logger);
    pool.dispatch({ path: this.basePath + path, method: 'POST', headers, body }, handler);
    return handler.ready;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pool?.close();
  }
}
