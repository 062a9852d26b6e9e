import { Transform, type Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { BadRequestError, HOP_BY_HOP, PayloadTooLargeError, type GatehouseContext, type InstanceKeys, type RelayInFlight, type Upstream } from 'gatehouse';
import type { ProxyRouteConfig } from './config.js';
import { IdentityTokens, SCOPES_HEADER, USER_ID_HEADER, USERNAME_HEADER, scopesOf } from './identity.js';

/**
 * Request headers that never go upstream: hop-by-hop ones, the caller's credentials, identity headers
 * only gatehouse may set, the forwarding headers gatehouse writes itself, and `expect` (the relay
 * answers `100 Continue` itself and streams the body on).
 */
const DROPPED_REQUEST_HEADERS = new Set([
  ...HOP_BY_HOP,
  'host',
  'expect',
  'authorization',
  'private-token',
  'job-token',
  'cookie',
  'sudo',
  'gitlab-shared-secret',
  USER_ID_HEADER,
  USERNAME_HEADER,
  SCOPES_HEADER,
  'x-request-id',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'forwarded',
]);
/** Query parameters that carry credentials (GitLab's `private_token`, `access_token`, …) or act as someone else. */
const CREDENTIAL_PARAMS = ['private_token', 'access_token', 'job_token', 'sudo'];
const MIGHT_HOLD_CREDENTIALS = /(?:^|&)(?:private_token|access_token|job_token|sudo)=/i;
/** Methods whose requests may be sent twice: retried once on the next target when nothing was sent. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
/**
 * A `.` or `..` path segment, as sent or percent-encoded: the upstream would resolve it and could end up
 * outside the route's prefix (or its base path), so such paths are refused rather than passed on.
 */
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;

/** Answers of known size up to this are read whole and written in one go; larger ones stream. */
const BUFFERED_ANSWER_MAX = 16 * 1024;

/** The query string without credential parameters (kept as sent when it holds none). */
function withoutCredentials(query: string): string {
  if (!MIGHT_HOLD_CREDENTIALS.test(query)) return query;
  const params = new URLSearchParams(query);
  for (const name of CREDENTIAL_PARAMS) params.delete(name);
  return params.toString();
}

/** Headers named in `Connection` are hop-by-hop too (RFC 9110 §7.6.1). */
function connectionListed(value: string | string[] | undefined): Set<string> | undefined {
  // The usual values name no header: nothing to split.
  if (!value || value === 'keep-alive' || value === 'close' || value === 'Keep-Alive') return undefined;
  const names = (Array.isArray(value) ? value.join(',') : value).split(',').map((name) => name.trim().toLowerCase());
  return new Set(names.filter(Boolean));
}

/**
 * The client's body on its way upstream, counted: past `max` bytes the relay fails with 413 and the
 * upstream request is aborted. Only for bodies of unannounced length (a declared Content-Length is
 * checked before anything is sent). The client's stream is unpiped, never destroyed, so the 413 can
 * still be written to it.
 */
function limitedBody(source: IncomingMessage, max: number, relay: BodyRelay): Readable {
  let seen = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen <= max) return done(null, chunk);
      source.unpipe(counted);
      const tooLarge = new PayloadTooLargeError();
      relay.tooLarge = tooLarge;
      relay.current?.failWith(tooLarge);
      done(tooLarge);
    },
  });
  // The 413 reaches the client through the relay (now, or as soon as it starts: see `tooLarge`). The
  // stream's own error may come when nobody reads it any more (undici has let go of the body, or not
  // taken it yet); unheard, it would be an uncaught exception that ends the process.
  counted.on('error', () => {});
  source.pipe(counted);
  return counted;
}

/** The relay a counted body belongs to, once it has started, and the 413 if the body outgrew its limit. */
interface BodyRelay {
  current?: RelayInFlight;
  tooLarge?: PayloadTooLargeError;
}

/** One configured proxy route: its upstream, how paths map, how the caller's identity is told. */
export class ProxyRoute {
  private readonly prefixLength: number;

  constructor(
    readonly config: ProxyRouteConfig,
    readonly upstream: Upstream,
    private readonly identity?: IdentityTokens,
  ) {
    this.prefixLength = config.path.length;
  }

  /**
   * The path and query sent upstream: the client's, minus the prefix when stripped, minus credentials.
   * A path with dot segments is a 400.
   */
  upstreamPath(rawUrl: string): string {
    const queryAt = rawUrl.indexOf('?');
    let path = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
    if (DOT_SEGMENT.test(path)) throw new BadRequestError();
    const query = queryAt === -1 ? '' : withoutCredentials(rawUrl.slice(queryAt + 1));
    if (this.config.stripPrefix) {
      path = path.slice(this.prefixLength);
      if (!path.startsWith('/')) path = `/${path}`;
    }
    return query ? `${path}?${query}` : path;
  }

  /** The client's headers that may go upstream, plus forwarding and identity headers. */
  private upstreamHeaders(ctx: GatehouseContext, authorization: string | undefined): Record<string, string | string[]> {
    // Node's parsed headers: names already lower-case, repeated ones already joined as HTTP allows.
    const incoming = ctx.req.headers;
    const listed = connectionListed(incoming.connection);
    const headers: Record<string, string | string[]> = {};
    for (const name in incoming) {
      if (DROPPED_REQUEST_HEADERS.has(name) || listed?.has(name)) continue;
      const value = incoming[name];
      if (value !== undefined) headers[name] = value;
    }
    const socketAddress = ctx.req.socket?.remoteAddress ?? '';
    // Read now, and kept by Koa: once undici has sent the body it detaches the request from its socket
    // (`req.socket = null`), and the request log, the rate limiter, anything reading ctx.ip later would find none.
    void ctx.ip;
    // Behind trusted proxies the chain so far is kept; otherwise a client's own X-Forwarded-For is a lie.
    const prior = ctx.app.proxy ? ctx.req.headers['x-forwarded-for'] : undefined;
    headers['x-forwarded-for'] = prior ? `${prior}, ${socketAddress}` : socketAddress;
    // Koa's getters only when a trusted proxy's X-Forwarded-* count; else the request's own, read directly.
    const trusted = ctx.app.proxy;
    headers['x-forwarded-proto'] = trusted ? ctx.protocol : ctx.req.socket && (ctx.req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
    headers['x-forwarded-host'] = trusted ? ctx.host : (incoming.host ?? '');
    headers['x-request-id'] = ctx.state.requestId;
    const principal = ctx.state.principal;
    const user = principal?.user;
    if (authorization !== undefined) headers.authorization = authorization;
    else if (user && principal && this.config.identity === 'headers') {
      headers[USER_ID_HEADER] = String(user.id);
      headers[USERNAME_HEADER] = user.username;
      headers[SCOPES_HEADER] = scopesOf(principal).join(',');
    }
    return headers;
  }

  /**
   * Passes the request on and relays the answer: the upstream's own answers (4xx and 5xx included)
   * as they are; 502 when it cannot be reached or breaks off, 504 without a first byte in time; 413
   * for a body over `maxBodyBytes`. The body is streamed, never parsed.
   */
  forward(ctx: GatehouseContext): Promise<void> {
    const req = ctx.req;
    const declared = req.headers['content-length'];
    const max = this.config.maxBodyBytes;
    if (declared !== undefined && Number(declared) > max) {
      // The body is never read: the connection closes after the answer instead of reading it through.
      ctx.set('Connection', 'close');
      throw new PayloadTooLargeError();
    }
    const path = this.upstreamPath(req.url!);
    const principal = ctx.state.principal;
    // Signed once per caller and reused: a promise only while the first signing runs.
    const authorization = principal && this.identity ? this.identity.authorizationFor(principal) : undefined;
    if (authorization instanceof Promise) return authorization.then((signed) => this.relay(ctx, path, signed));
    return this.relay(ctx, path, authorization);
  }

  /**
   * The relay itself, once the identity is at hand. Not an async function: the hot path awaits only the
   * relay's own promise (the route's handler returns it), with no async frame of its own.
   */
  private relay(ctx: GatehouseContext, path: string, authorization: string | undefined): Promise<void> {
    const req = ctx.req;
    const headers = this.upstreamHeaders(ctx, authorization);
    const relay: BodyRelay = {};
    let body: Readable | null = null;
    if (req.headers['transfer-encoding'] !== undefined) {
      delete headers['content-length'];
      body = limitedBody(req, this.config.maxBodyBytes, relay);
    } else {
      const declared = req.headers['content-length'];
      if (declared !== undefined && declared !== '0') body = req;
    }
    const method = ctx.method;
    const started = this.upstream.start(ctx, {
      method,
      path,
      headers,
      body,
      retry: body === null && IDEMPOTENT.has(method),
      responseHeaders: 'all',
      bufferUpTo: method === 'HEAD' ? 0 : BUFFERED_ANSWER_MAX,
    });
    const answered = (current: RelayInFlight): Promise<void> => {
      relay.current = current;
      // The body outgrew its limit while the relay was starting.
      if (relay.tooLarge) current.failWith(relay.tooLarge);
      if (!body) return current.ready;
      // A body the upstream did not read whole is not read through here either (undici lets go of the
      // request): the connection closes after the answer — a relayed one says so in its head (see
      // RelayHandler), a failure (502, 413, …) here — so what is left of the body is never taken for
      // the client's next request.
      return current.ready.catch((error: unknown) => {
        if (!req.complete) ctx.set('Connection', 'close');
        throw error;
      });
    };
    return started instanceof Promise ? started.then(answered) : answered(started);
  }
}
