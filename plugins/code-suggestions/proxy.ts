import type { GatehouseContext, Upstream, Upstreams } from 'gatehouse';

export { BadGatewayError, GatewayTimeoutError } from 'gatehouse';

/**
 * Client headers passed on to the AI gateway. Everything else stays here — above all the caller's
 * credentials (PRIVATE-TOKEN, Authorization, Cookie) and any identity header a client might try to
 * set itself: gatehouse states the identity.
 */
const FORWARDED_HEADERS = ['user-agent', 'x-gitlab-language-server-version', 'x-supports-sse-streaming', 'accept'] as const;
/** Editor telemetry headers GitLab 16.x forwarded (`/\Ax-gitlab-cs-/i`). */
const TELEMETRY_PREFIX = 'x-gitlab-cs-';
/** The AI gateway's answer headers the client gets (with its status, content type and body). */
const RELAYED_HEADERS = ['x-streaming-format'] as const;
/** Plain (non-streaming) answers up to this size are read whole before they are written. */
const BUFFERED_ANSWER_MAX = 1024 * 1024;

export interface AiGatewayOptions {
  baseUrl: string;
  timeoutMs: number;
  connections: number;
}

/**
 * The AI gateway as an upstream, through core's relay: one keep-alive pool, explicit timeouts,
 * responses relayed chunk by chunk. Its own rule on errors: an AI gateway 5xx answers 502.
 */
export class AiGatewayUpstream {
  private readonly upstream: Upstream;
  readonly baseUrl: string;

  constructor(upstreams: Upstreams, options: AiGatewayOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.upstream = upstreams.create({
      name: 'ai-gateway',
      targets: [options.baseUrl],
      connections: options.connections,
      firstByteTimeoutMs: options.timeoutMs,
      idleTimeoutMs: options.timeoutMs,
      connectTimeoutMs: Math.min(options.timeoutMs, 10_000),
    });
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
   * `X-Streaming-Format` and body — streamed for streaming requests and answers of unknown or large
   * size —, 5xx and transport failures as 502, no response headers within `timeoutMs` as 504. A client
   * that goes away aborts the upstream request.
   */
  relay(ctx: GatehouseContext, path: string, headers: Record<string, string>, body: string, streaming: boolean): Promise<void> {
    return this.upstream.relay(ctx, {
      method: 'POST',
      path,
      headers,
      body,
      responseHeaders: RELAYED_HEADERS,
      failOnServerError: true,
      bufferUpTo: streaming ? 0 : BUFFERED_ANSWER_MAX,
      defaultContentType: 'application/json',
    });
  }
}
