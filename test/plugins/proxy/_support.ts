/**
 * Shared pieces of the proxy tests: fake upstream services on 127.0.0.1 port 0 that record what they
 * receive, an app with proxy routes pointing at them, and raw HTTP helpers for streamed bodies.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { startTestApp, type TestApp, type TestAppOptions } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';

export { UNAUTHORIZED, FORBIDDEN, insufficientScope } from '../../helpers/gitlab-errors.js';
export const NOT_FOUND = { message: '404 Not Found' };
export const TOO_LARGE = { message: '413 Request Entity Too Large' };
export const BAD_GATEWAY = { message: '502 Bad Gateway' };
export const GATEWAY_TIMEOUT = { message: '504 Gateway Timeout' };
export const RATE_LIMITED = { message: { error: 'This endpoint has been requested too many times. Try again later.' } };

/** What a fake upstream received. */
export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Bytes of the body (set also when the body is not kept). */
  bytes: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse, received: Received) => unknown;

/** Answers 200 with a JSON echo of what it received (method, url, headers, body as text). */
export const echo: Handler = (_req, res, received) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ method: received.method, url: received.url, headers: received.headers, body: received.body.toString('utf8') }));
};

/** An upstream service on 127.0.0.1: records every request, answers with `handler` (swappable). */
export class FakeUpstream {
  readonly received: Received[] = [];
  /** Requests whose connection closed before the answer was complete (an aborted relay). */
  readonly aborted: Received[] = [];
  handler: Handler = echo;
  /** Keep bodies (false: count bytes only, for large uploads). */
  keepBodies = true;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(handler?: Handler): Promise<FakeUpstream> {
    let fake!: FakeUpstream;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      const received: Received = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.alloc(0), bytes: 0 };
      fake.received.push(received);
      res.on('close', () => {
        if (!res.writableFinished) fake.aborted.push(received);
      });
      req.on('data', (chunk: Buffer) => {
        received.bytes += chunk.length;
        if (fake.keepBodies) chunks.push(chunk);
      });
      req.on('end', () => {
        received.body = Buffer.concat(chunks);
        void fake.handler(req, res, received);
      });
    });
    server.on('connection', (socket) => {
      fake.sockets.add(socket);
      socket.on('close', () => fake.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    fake = new FakeUpstream(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    if (handler) fake.handler = handler;
    return fake;
  }

  /** The last request received. */
  get last(): Received {
    return this.received[this.received.length - 1];
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** A URL on 127.0.0.1 where nothing listens (connections are refused). */
export async function refusingUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

/** A proxy route entry with test defaults: token auth, jwt identity, all methods. */
export function routeConfig(overrides: Record<string, unknown> & { upstreams: string[] }): Record<string, unknown> {
  return { name: 'reports', path: '/reports', auth: { strategy: 'token', scopes: ['read_api', 'api'] }, ...overrides };
}

/** A gateway with the given proxy routes. */
export async function startProxyApp(routes: Record<string, unknown>[], options: TestAppOptions & { proxy?: Record<string, unknown> } = {}): Promise<TestApp> {
  const { proxy, ...rest } = options;
  const config = (rest.config ?? {}) as { plugins?: Record<string, unknown> };
  return startTestApp({
    ...rest,
    config: { ...config, plugins: { ...(config.plugins ?? {}), proxy: { routes, ...(proxy ?? {}) } } },
  });
}

export function userWithToken(app: TestApp, scopes: string[] = ['read_api'], options: { admin?: boolean } = {}) {
  return createUserWithToken(app, scopes, options);
}

/** A raw HTTP exchange: status, headers and the body as text (no fetch in between, nothing added). */
export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json(): any;
}

/** Sends one request with node:http (so bodies can be streamed and headers set exactly). */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string | string[]>; body?: string | Buffer | ((req: import('node:http').ClientRequest) => void) } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    // Host, port and path given apart: a URL string would have its dot segments resolved on the way.
    const { hostname, port } = new URL(url);
    const path = url.slice(url.indexOf('/', url.indexOf('//') + 2));
    const req = httpRequest({ hostname, port, path, method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode!, headers: res.headers, text, json: () => JSON.parse(text) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (typeof options.body === 'function') options.body(req);
    else req.end(options.body);
  });
}

/** Waits until `condition` holds (polling), for things that happen after a response is written. */
export async function eventually(condition: () => boolean, attempts = 200): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return condition();
}
