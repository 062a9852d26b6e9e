import { Readable } from 'node:stream';
import { ApiError, type Logger, type GatehouseContext } from 'gatehouse';

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

/** Plain (non-streaming) answers up to this size are read whole before they are written. */
const BUFFERED_ANSWER_MAX = 1024 * 1024;
/** The upstream response headers the relay reads. */
const CONTENT_TYPE = 'content-type';
const STREAMING_FORMAT = 'x-streaming-format';
const CONTENT_LENGTH = 'content-length';
/** undici's code for "no response headers within headersTimeout". */
const HEADERS_TIMEOUT = 'UND_ERR_HEADERS_TIMEOUT';

/** A relayed stream's errors end the client's response (Koa's pipeline does that); nothing else to do. */
function ignore(): void {}

/** Why the upstream request is aborted when the client leaves (never shown to anyone). */
class ClientGoneError extends Error {}

/**
 * One upstream request as undici's dispatch handler: the answer's status, content type and
 * `X-Streaming-Format` go on the client's response, and its body follows —
 * - read whole and written in one go when it is a plain answer of known, small size (no per-response
 *   stream pipeline for the common completion);
 * - otherwise passed on chunk by chunk as it arrives, with backpressure (a slow client pauses the upstream).
 * 5xx answers and transport failures become 502, no headers in time 504. A client that goes away aborts
 * the upstream request at any point: before the answer, while it is read, while it streams.
 *
 * The dispatch API rather than `request()`: no AbortController, no body stream and no promise per
 * request beyond the one the route awaits (this is the hot path of every completion).
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
  private stream?: Readable;
  private readonly onClientClose = () => {
    if (this.ctx.res.writableFinished) return;
    this.clientGone = true;
    if (this.state !== 'done') this.abortUpstream?.(new ClientGoneError());
  };

  constructor(
    private readonly ctx: GatehouseContext,
    private readonly streaming: boolean,
    private readonly path: string,
    private readonly logger: Logger,
  ) {
    this.ready = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    ctx.res.once('close', this.onClientClose);
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.clientGone) abort(new ClientGoneError());
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    this.resumeUpstream = resume;
    if (statusCode >= 500 || statusCode < 200) {
      // Read on (and drop) the body, so the connection stays reusable.
      this.state = 'failed';
      this.logger.warn({ requestId: this.ctx.state.requestId, path: this.path, upstreamStatus: statusCode }, 'AI gateway failed');
      this.reject(new BadGatewayError());
      return true;
    }
    let type: string | undefined;
    let format: string | undefined;
    let length: string | undefined;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      // Only names as long as one of the three are turned into strings: most headers are skipped unread.
      const raw = rawHeaders[i];
      const size = raw.length;
      if (size !== CONTENT_TYPE.length && size !== STREAMING_FORMAT.length && size !== CONTENT_LENGTH.length) continue;
      const name = raw.toString('latin1').toLowerCase();
      if (name === CONTENT_TYPE) type = rawHeaders[i + 1].toString('latin1');
      else if (name === STREAMING_FORMAT) format = rawHeaders[i + 1].toString('latin1');
      else if (name === CONTENT_LENGTH) length = rawHeaders[i + 1].toString('latin1');
    }
    const ctx = this.ctx;
    ctx.status = statusCode;
    ctx.set('Content-Type', type ?? 'application/json');
    if (format !== undefined) ctx.set('X-Streaming-Format', format);
    if (!this.streaming && length !== undefined && Number(length) <= BUFFERED_ANSWER_MAX) {
      this.state = 'buffering';
      this.chunks = [];
      return true;
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
    ctx.body = stream;
    this.resolve();
    return true;
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
      this.ctx.body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      this.resolve();
    } else if (state === 'streaming') this.stream!.push(null);
  }

  onError(error: Error): void {
    this.ctx.res.off('close', this.onClientClose);
    const state = this.state;
    this.state = 'done';
    if (state === 'failed') return;
    if (state === 'streaming') {
      this.stream!.destroy(error);
      return;
    }
    if (this.clientGone) {
      // Nobody is left to answer; the request log still records the route.
      this.ctx.status = 499;
      this.resolve();
      return;
    }
    const { requestId } = this.ctx.state;
    if ((error as { code?: string }).code === HEADERS_TIMEOUT) {
      this.logger.warn({ requestId, path: this.path }, 'AI gateway timed out');
      this.reject(new GatewayTimeoutError());
      return;
    }
    this.logger.warn({ err: error, requestId, path: this.path }, 'AI gateway unreachable');
    this.reject(new BadGatewayError());
  }
}
