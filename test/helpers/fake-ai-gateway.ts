import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the fake AI gateway received, and how it ended. */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The body as text and, when it is JSON, parsed. */
  text: string;
  body: any;
  /** Resolves `true` when the caller went away before the answer was complete, `false` when it completed. */
  aborted: Promise<boolean>;
}

/** How the fake answers one request. */
export type Answer = (request: ReceivedRequest, res: ServerResponse) => void | Promise<void>;

/** A completion answer as the AI gateway's /v2/code/completions gives it. */
export const COMPLETION = {
  id: 'id',
  model: { engine: 'vertex-ai', name: 'code-gecko', lang: 'python' },
  object: 'text_completion',
  created: 1_700_000_000,
  choices: [{ text: 'return a + b', index: 0, finish_reason: 'length' }],
};

/** Canned answers: JSON, SSE, chunked text, errors, slow, never. */
export const answers = {
  json: (body: unknown = COMPLETION, status = 200): Answer => (_request, res) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  },
  /** SSE events, sent one by one; before each event after the first the fake awaits `gate` (if given). */
  sse: (events: string[], gate?: () => Promise<void>): Answer => async (_request, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'X-Streaming-Format': 'sse', 'Cache-Control': 'no-cache' });
    for (const [i, event] of events.entries()) {
      if (i > 0 && gate) await gate();
      if (res.destroyed) return;
      res.write(`event: stream_${i === events.length - 1 ? 'end' : 'chunk'}\ndata: ${event}\n\n`);
    }
    res.end();
  },
  /** Raw chunked text (no SSE), as the gateway streams generations without the SSE header. */
  chunked: (chunks: string[], gate?: () => Promise<void>): Answer => async (_request, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
    for (const [i, chunk] of chunks.entries()) {
      if (i > 0 && gate) await gate();
      if (res.destroyed) return;
      res.write(chunk);
    }
    res.end();
  },
  status: (status: number, body: unknown): Answer => answers.json(body, status),
  /** Headers only after `ms`. */
  slow: (ms: number, then: Answer = answers.json()): Answer => (request, res) =>
    void setTimeout(() => {
      if (!res.destroyed) void then(request, res);
    }, ms),
  /** Never answers (the connection stays open until the caller gives up). */
  never: (): Answer => () => {},
};

/** A promise with its resolver outside, for letting a fake answer continue when a test says so. */
export function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, wait: () => opened };
}

/**
 * A fake AI gateway on 127.0.0.1, port 0. It records every request and answers with the `Answer`
 * registered for the request's `X-Request-Id` (gatehouse forwards the id it was sent), else the default.
 */
export class FakeAiGateway {
  readonly requests: ReceivedRequest[] = [];
  private readonly byRequestId = new Map<string, Answer>();
  defaultAnswer: Answer = answers.json();

  private constructor(private readonly server: Server, readonly url: string) {}

  static async start(): Promise<FakeAiGateway> {
    let fake!: FakeAiGateway;
    const server = createServer((req, res) => void fake.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    fake = new FakeAiGateway(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return fake;
  }

  /** Answers requests carrying this request id with `answer`. */
  on(requestId: string, answer: Answer): void {
    this.byRequestId.set(requestId, answer);
  }

  /** The requests that carried this request id. */
  received(requestId: string): ReceivedRequest[] {
    return this.requests.filter((request) => request.headers['x-request-id'] === requestId);
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const aborted = new Promise<boolean>((resolve) => res.once('close', () => resolve(!res.writableFinished)));
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: kept as text
    }
    const request: ReceivedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, text, body, aborted };
    this.requests.push(request);
    const id = req.headers['x-request-id'];
    await (this.byRequestId.get(typeof id === 'string' ? id : '') ?? this.defaultAnswer)(request, res);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
