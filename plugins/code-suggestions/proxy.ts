import type { Pool } from 'undici';
import type { Logger } from 'pino';
import { ApiError } from '../../core/errors.js';
import type { GatehouseContext } from '../../core/plugins/types.js';

/** 502 `{"message":"502 Bad Gateway"}`: the AI gateway is unreachable or failed (5xx). */
export class BadGatewayError extends ApiError {
  constructor() {
    super(502, { message: '502 Bad Gateway' });
  }
}

/** 504 `{"message":"504 Gateway Timeout"}`: the AI gateway did not answer in time. */
export class GatewayTimeoutError extends ApiError {
  constructor() {
    super(504, { message: '504 Gateway Timeout' });
  }
}

/**
 * Client headers passed on to the AI gateway. Everything else stays here — above all the caller's
 * credentials (PRIVATE-TOKEN, Authorization, Cookie) and any identity header a client might try to
 * set itself: gatehouse states the identity.
 */
const FORWARDED_HEADERS = ['user-agent', 'x-gitlab-language-server-version', 'x-supports-sse-streaming', 'accept'] as const;
/** Editor telemetry headers GitLab 16.x forwarded (`/\Ax-gitlab-cs-/i`). */
const TELEMETRY_PREFIX = 'x-gitlab-cs-';
/** Plain (non-streaming) answers up to this size are read whole before they are written. */
const BUFFERED_ANSWER_MAX = 1024 * 1024;
/** Response headers relayed to the client besides the status and the content type. */
const RELAYED_RESPONSE_HEADERS = ['x-streaming-format'] as const;

/** The upstream body's errors end the client's response (Koa's pipeline does that); nothing else to do. */
function ignoreAbort(): void {}

export interface UpstreamOptions {
  baseUrl: string;
  timeoutMs: number;
  connections: number;
  logger: Logger;
}

/** undici's code for "no response headers within headersTimeout". */
const HEADERS_TIMEOUT = 'UND_ERR_HEADERS_TIMEOUT';

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
   * POSTs `body` to `<base><path>` and relays the answer: 2xx and 4xx with their status, content type,
   * `X-Streaming-Format` and body; 5xx and transport failures → 502; no response headers in time → 504.
   * A streaming request's answer (and any answer of unknown or large size) is passed on chunk by chunk
   * as it arrives; a short answer of known length to a plain request is read first and written in one
   * go, which spares the per-response stream pipeline. A client that goes away aborts the upstream
   * request: before the answer starts (the signal) and while it streams (Koa destroys the body stream
   * when the response closes).
   */
  async relay(ctx: GatehouseContext, path: string, headers: Record<string, string>, body: string, streaming: boolean): Promise<void> {
    const abort = new AbortController();
    const res = ctx.res;
    const onClose = () => {
      if (!res.writableFinished) abort.abort();
    };
    res.once('close', onClose);
    try {
      const pool = this.pool ?? (await this.loadPool());
      const response = await pool.request({ path: this.basePath + path, method: 'POST', headers, body, signal: abort.signal });
      const { statusCode } = response;
      if (statusCode >= 500 || statusCode < 200) {
        response.body.dump().catch(ignoreAbort);
        this.options.logger.warn({ requestId: ctx.state.requestId, path, upstreamStatus: statusCode }, 'AI gateway failed');
        throw new BadGatewayError();
      }
      ctx.status = statusCode;
      const type = response.headers['content-type'];
      ctx.set('Content-Type', typeof type === 'string' ? type : 'application/json');
      for (const name of RELAYED_RESPONSE_HEADERS) {
        const value = response.headers[name];
        if (typeof value === 'string') ctx.set(name, value);
      }
      const length = response.headers['content-length'];
      if (!streaming && typeof length === 'string' && Number(length) <= BUFFERED_ANSWER_MAX) {
        ctx.body = Buffer.from(await response.body.arrayBuffer());
        return;
      }
      // From here Koa owns the stream: it pipes it and destroys it when the response closes. A stream
      // destroyed before its end (the client went away) emits an abort error after Koa's pipeline has
      // let go of it; without a listener of its own that error would take the process down.
      response.body.on('error', ignoreAbort);
      ctx.body = response.body;
    } catch (error) {
      if (abort.signal.aborted) {
        // Nobody is left to answer; the request log still records the route.
        ctx.status = 499;
        return;
      }
      if (error instanceof BadGatewayError) throw error;
      if ((error as { code?: string }).code === HEADERS_TIMEOUT) {
        this.options.logger.warn({ requestId: ctx.state.requestId, path }, 'AI gateway timed out');
        throw new GatewayTimeoutError();
      }
      this.options.logger.warn({ err: error, requestId: ctx.state.requestId, path }, 'AI gateway unreachable');
      throw new BadGatewayError();
    } finally {
      res.off('close', onClose);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pool?.close();
  }
}
