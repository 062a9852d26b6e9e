import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { GatehouseContext } from '../plugins/types.js';
import { oweStandardHeaders, writeListedHead } from '../http/response.js';
import { BadGatewayError, GatewayTimeoutError } from './errors.js';

/** undici's code for "no response headers within headersTimeout". */
const HEADERS_TIMEOUT = 'UND_ERR_HEADERS_TIMEOUT';
const CONTENT_TYPE = 'content-type';
const CONTENT_LENGTH = 'content-length';
const EMPTY = Buffer.alloc(0);
/** Every answer carries gatehouse's own request id; the upstream's does not replace it. */
const REQUEST_ID = 'x-request-id';

/**
 * Response headers never relayed: hop-by-hop ones (RFC 9110 §7.6.1) belong to the connection to the
 * upstream, not to the client's; `content-length` is set by the relay itself when it knows the size.
 */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** A relayed stream's errors end the client's response (Koa's pipeline does that); nothing else to do. */
function ignore(): void {}

/** Why the upstream request is aborted when the client leaves (never shown to anyone). */
export class ClientGoneError extends Error {}

/** How one relay answers: which upstream headers reach the client, what counts as a failure. */
export interface RelayAnswerOptions {
  /** `'all'`: every response header but the hop-by-hop ones; a list: only those (lower-case). */
  responseHeaders: 'all' | readonly string[];
  /** Upstream 5xx answers become 502 instead of being relayed (the AI gateway's rule). */
  failOnServerError?: boolean;
  /** Answers of known size up to this many bytes are read whole, then written in one go (0: never). */
  bufferUpTo?: number;
  /** The content type when the upstream sends none. */
  defaultContentType?: string;
}

/** What the relay reports about one attempt, for health checks, metrics and retries. */
export interface RelayObserver {
  /** The upstream answered with `status` (headers received). */
  answered(status: number): void;
  /**
   * The attempt failed before any answer. Returns true when the request was sent again elsewhere
   * (the handler then waits for that attempt), false when the failure stands.
   */
  failed(error: Error, sentNothing: boolean): boolean;
  /** The attempt ended after its answer began (complete, broken, or abandoned by the client). */
  ended(outcome: 'complete' | 'broken' | 'aborted'): void;
}

/** Connection errors that mean nothing reached the upstream: safe to send once more elsewhere. */
const NOTHING_SENT = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

export function nothingWasSent(error: Error): boolean {
  return NOTHING_SENT.has((error as { code?: string }).code ?? '');
}

/**
 * One upstream request as undici's dispatch handler: the answer's status and headers go on the
 * client's response, and its body follows —
 * - read whole and written in one go when it is of known, small size (no per-response stream);
 * - otherwise passed on chunk by chunk as it arrives, with backpressure (a slow client pauses the upstream).
 * Transport failures become 502, no headers in time 504. A client that goes away aborts the upstream
 * request at any point: before the answer, while it is read, while it streams.
 *
 * The dispatch API rather than `request()`: no AbortController, no body stream and no promise per
 * request beyond the one the route awaits (this is the hot path of every relayed request).
 */
export class RelayHandler {
  /** Settles when the client's response is set up (or failed): the route awaits it. */
  readonly ready: Promise<void>;
  private resolve!: () => void;
  private reject!: (error: unknown) => void;
  private state: 'waiting' | 'failed' | 'buffering' | 'streaming' | 'done' = 'waiting';
  private clientGone = false;
  private abortUpstream?: (reason?: Error) => void;
  private resumeUpstream?: () => void;
  private chunks?: Buffer[];
  /** The answer's head while its body is read whole. */
  private head?: string[];
  private stream?: Readable;
  /** The request's body is the client's, passed on as it arrives (not a string or buffer). */
  private readonly streamsClientBody: boolean;
  private readonly onClientClose = () => {
    if (this.ctx.res.writableFinished) return;
    this.clientGone = true;
    if (this.state !== 'done') this.abortUpstream?.(new ClientGoneError());
  };

  constructor(
    private readonly ctx: GatehouseContext,
    private readonly options: RelayAnswerOptions & { body?: unknown },
    private readonly upstreamName: string,
    private readonly logger: Logger,
    private readonly observer: RelayObserver,
  ) {
    this.streamsClientBody = options.body instanceof Readable;
    this.ready = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    ctx.res.once('close', this.onClientClose);
  }

  /** Fails the relay before any answer (e.g. a request body over its limit): `error` is what the client gets. */
  failWith(error: unknown): void {
    if (this.state !== 'waiting') return;
    this.state = 'failed';
    this.abortUpstream?.(new ClientGoneError());
    this.reject(error);
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.clientGone || this.state === 'failed') abort(new ClientGoneError());
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (this.state === 'failed') return false;
    // Informational answers (103 Early Hints) come before the real one, which undici reports next.
    if (statusCode < 200) return true;
    this.resumeUpstream = resume;
    this.observer.answered(statusCode);
    const options = this.options;
    if (options.failOnServerError && statusCode >= 500) {
      // Read on (and drop) the body, so the connection stays reusable.
      this.state = 'failed';
      this.logger.warn({ requestId: this.ctx.state.requestId, upstream: this.upstreamName, upstreamStatus: statusCode }, 'upstream failed');
      this.reject(new BadGatewayError());
      return true;
    }
    const ctx = this.ctx;
    const res = ctx.res;
    const wanted = options.responseHeaders;
    // The whole head as one flat list, written with one writeHead call: Node's fast path (see
    // GatehouseResponse) rather than a header table filled one header at a time.
    const head: string[] = [];
    let type: string | undefined;
    let length: string | undefined;
    if (wanted === 'all') {
      for (let i = 0; i < rawHeaders.length; i += 2) {
        const name = rawHeaders[i].toString('latin1').toLowerCase();
        const value = rawHeaders[i + 1].toString('latin1');
        if (name === CONTENT_LENGTH) length = value;
        else if (name === CONTENT_TYPE) type = value;
        // Repeated headers (Set-Cookie above all) stay repeated: each is a line of its own.
        else if (!HOP_BY_HOP.has(name) && name !== REQUEST_ID) head.push(name, value);
      }
    } else {
      for (let i = 0; i < rawHeaders.length; i += 2) {
        // Names of a length none of the wanted ones has are skipped unread.
        const raw = rawHeaders[i];
        const size = raw.length;
        if (size !== CONTENT_LENGTH.length && size !== CONTENT_TYPE.length && !wanted.some((name) => name.length === size)) continue;
        const name = raw.toString('latin1').toLowerCase();
        if (name === CONTENT_LENGTH) length = rawHeaders[i + 1].toString('latin1');
        else if (name === CONTENT_TYPE) type = rawHeaders[i + 1].toString('latin1');
        else if (wanted.includes(name)) head.push(name, rawHeaders[i + 1].toString('latin1'));
      }
    }
    // The request log reads the status, whatever happens to the answer from here.
    res.statusCode = statusCode;
    const contentType = type ?? options.defaultContentType;
    if (contentType !== undefined) head.push(CONTENT_TYPE, contentType);
    const bufferUpTo = options.bufferUpTo ?? 0;
    if (bufferUpTo > 0 && length !== undefined && Number(length) <= bufferUpTo) {
      // Written with the body, once its size is certain: until then the answer can still turn into a 502.
      this.state = 'buffering';
      this.head = head;
      this.chunks = [];
      return true;
    }
    // The upstream's length stays true (Koa would drop it for a stream body it did not size).
    if (length !== undefined) head.push(CONTENT_LENGTH, length);
    if (!this.writeHead(statusCode, head)) {
      this.abortUpstream?.(new ClientGoneError());
      return false;
    }
    this.state = 'streaming';
    const stream = new Readable({
      read: () => this.resumeUpstream?.(),
      // Koa destroys the body when the response closes; before the end, that ends the upstream request.
      destroy: (error, done) => {
        if (this.state === 'streaming') this.abortUpstream?.(new ClientGoneError());
        done(error);
      },
    });
    // A stream destroyed with an error after Koa's pipeline let go of it (or before it took it) must
    // not take the process down for want of a listener.
    stream.on('error', ignore);
    this.stream = stream;
    // With the head written, Koa's body setter only takes the stream (it sets no header any more).
    ctx.body = stream;
    this.resolve();
    return true;
  }

  /**
   * Writes the answer's head (not yet sent: Node sends it with the first bytes of the body). A client
   * body the upstream did not read whole is not read through either: the connection closes after the
   * answer, so what is left of the body is never taken for the client's next request. False, with the
   * relay failed as a 502, when Node refuses to send a header of the upstream's.
   */
  private writeHead(statusCode: number, head: string[]): boolean {
    const res = this.ctx.res;
    if (this.streamsClientBody && !this.ctx.req.complete) head.push('Connection', 'close');
    try {
      writeListedHead(res, statusCode, head);
      return true;
    } catch (error) {
      this.state = 'failed';
      this.logger.warn({ err: error, requestId: this.ctx.state.requestId, upstream: this.upstreamName }, 'upstream answer has a header Node refuses');
      // The 502 gets the standard headers back (the refused list had taken them).
      if (!res.headersSent) oweStandardHeaders(res, this.ctx.state.requestId);
      this.reject(new BadGatewayError());
      return false;
    }
  }

  onData(chunk: Buffer): boolean {
    if (this.state === 'buffering') this.chunks!.push(chunk);
    else if (this.state === 'streaming') return this.stream!.push(chunk);
    return true;
  }

  onComplete(): void {
    this.ctx.res.off('close', this.onClientClose);
    const state = this.state;
    this.state = 'done';
    if (state === 'buffering') {
      const chunks = this.chunks!;
      const body = chunks.length === 1 ? chunks[0] : chunks.length === 0 ? EMPTY : Buffer.concat(chunks);
      // Written here, with the upstream's headers, rather than handed to Koa as the body: its body
      // setter and response writer (typing, sizing, checks) cost a proxied answer ~4 % of its CPU, and
      // would retype a JSON answer. Nothing after the relay changes the answer.
      const res = this.ctx.res;
      const head = this.head!;
      const status = res.statusCode;
      // 204 and 304 have no body and (RFC 9110 §8.6) no Content-Length of one.
      const empty = status === 204 || status === 304;
      if (!empty) head.push(CONTENT_LENGTH, String(body.length));
      if (!this.writeHead(status, head)) {
        this.state = 'done';
        return;
      }
      this.ctx.respond = false;
      if (empty) res.end();
      else res.end(body);
      this.resolve();
    } else if (state === 'streaming') this.stream!.push(null);
    if (state === 'buffering' || state === 'streaming') this.observer.ended('complete');
  }

  onError(error: Error): void {
    const state = this.state;
    if (state === 'failed' || state === 'done') {
      this.ctx.res.off('close', this.onClientClose);
      this.state = 'done';
      return;
    }
    if (state === 'waiting' && !this.clientGone && !(error instanceof ClientGoneError)) {
      // The observer may send the request again elsewhere; this handler then serves that attempt.
      if (this.observer.failed(error, nothingWasSent(error))) return;
    }
    this.ctx.res.off('close', this.onClientClose);
    this.state = 'done';
    if (state === 'streaming' || state === 'buffering') {
      this.observer.ended(this.clientGone || error instanceof ClientGoneError ? 'aborted' : 'broken');
      if (state === 'streaming') {
        this.stream!.destroy(error);
        return;
      }
      if (this.clientGone) {
        this.resolve();
        return;
      }
      // Broken mid-answer, but nothing written yet: a clean 502.
      this.logger.warn({ err: error, requestId: this.ctx.state.requestId, upstream: this.upstreamName }, 'upstream broke off its answer');
      this.reject(new BadGatewayError());
      return;
    }
    if (this.clientGone || error instanceof ClientGoneError) {
      // Nobody is left to answer; the request log still records the route.
      this.ctx.status = 499;
      this.resolve();
      return;
    }
    const { requestId } = this.ctx.state;
    if ((error as { code?: string }).code === HEADERS_TIMEOUT) {
      this.logger.warn({ requestId, upstream: this.upstreamName }, 'upstream timed out');
      this.reject(new GatewayTimeoutError());
      return;
    }
    this.logger.warn({ err: error, requestId, upstream: this.upstreamName }, 'upstream unreachable');
    this.reject(new BadGatewayError());
  }
}
