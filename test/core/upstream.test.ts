import test from 'ava';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import Koa from 'koa';
import pino from 'pino';
import { Registry } from 'prom-client';
import { ApiError } from '../../core/errors.js';
import { clientIp, createMetrics, requestObserver } from '../../core/ops/observability.js';
import type { GatehouseContext, GatehouseState } from '../../core/plugins/types.js';
import { createUpstreams, type RelayRequest } from '../../core/upstream/index.js';

// The relay on its own: a bare Koa app relaying to a raw upstream server, both on 127.0.0.1 port 0.

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function relayApp(t: import('ava').ExecutionContext, upstreamUrl: string, request: Partial<RelayRequest>, options: { idleTimeoutMs?: number } = {}) {
  const registry = new Registry();
  const upstreams = createUpstreams({ registry, logger: pino({ level: 'silent' }) });
  const upstream = upstreams.create({ name: 'test', targets: [upstreamUrl], firstByteTimeoutMs: 2_000, idleTimeoutMs: options.idleTimeoutMs });
  const app = new Koa<GatehouseState>();
  app.use(async (ctx) => {
    ctx.state.requestId = 'req-1';
    try {
      await upstream.relay(ctx as GatehouseContext, { method: 'GET', path: ctx.url, headers: {}, responseHeaders: 'all', ...request });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      ctx.status = error.status;
      ctx.body = error.body;
    }
  });
  const server = createServer(app.callback());
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => sockets.add(socket));
  const url = await listen(server);
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
    await upstreams.close();
  });
  return { url, registry, upstreams };
}

function get(url: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string; error?: string }> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
      res.on('error', (error) => resolve({ status: res.statusCode!, headers: res.headers, text, error: error.message }));
      res.on('aborted', () => resolve({ status: res.statusCode!, headers: res.headers, text, error: 'aborted' }));
    });
    req.on('error', (error) => resolve({ status: 0, headers: {}, text: '', error: error.message }));
    req.end();
  });
}

test('hop-by-hop response headers stay behind; the others, repeated ones included, are relayed', async (t) => {
  const upstream = createServer((_req, res) => {
    res.writeHead(200, [
      ['content-type', 'text/plain'],
      ['keep-alive', 'timeout=5'],
      ['upgrade', 'h2c'],
      ['proxy-authenticate', 'Basic'],
      ['trailer', 'x-checksum'],
      ['x-kept', 'yes'],
      ['link', '<a>'],
      ['link', '<b>'],
    ] as never);
    res.end('body');
  });
  const upstreamUrl = await listen(upstream);
  t.teardown(() => void upstream.close());
  const { url, registry } = await relayApp(t, upstreamUrl, {});
  const response = await get(`${url}/x`);
  t.is(response.status, 200);
  t.is(response.text, 'body');
  for (const name of ['keep-alive', 'upgrade', 'proxy-authenticate', 'trailer']) t.is(response.headers[name], undefined, name);
  t.is(response.headers['x-kept'], 'yes');
  t.is(response.headers.link, '<a>, <b>');
  t.is(response.headers['content-type'], 'text/plain');
  const metrics = await registry.metrics();
  t.regex(metrics, /gatehouse_upstream_requests_total\{upstream="test",outcome="2xx"\} 1/);
  t.regex(metrics, /gatehouse_upstream_first_byte_seconds_count\{upstream="test"\} 1/);
});

test('failOnServerError turns an upstream 5xx into 502; a list of response headers relays only those', async (t) => {
  const upstream = createServer((req, res) => {
    res.writeHead(req.url === '/fail' ? 503 : 200, { 'content-type': 'application/json', 'x-streaming-format': 'raw', 'x-other': 'no' });
    res.end('{"ok":true}');
  });
  const upstreamUrl = await listen(upstream);
  t.teardown(() => void upstream.close());
  const { url } = await relayApp(t, upstreamUrl, { failOnServerError: true, responseHeaders: ['x-streaming-format'], bufferUpTo: 1024 });
  const fail = await get(`${url}/fail`);
  t.is(fail.status, 502);
  t.deepEqual(JSON.parse(fail.text), { message: '502 Bad Gateway' });
  const ok = await get(`${url}/ok`);
  t.is(ok.status, 200);
  t.is(ok.text, '{"ok":true}');
  t.is(ok.headers['x-streaming-format'], 'raw');
  t.is(ok.headers['x-other'], undefined);
});

test('an upstream that pauses longer than the idle timeout mid-answer has its answer cut; the relay serves on', async (t) => {
  const upstream = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first');
    if (req.url === '/fine') res.end(' and last');
    // /stall: never continues.
  });
  const upstreamUrl = await listen(upstream);
  t.teardown(() => {
    upstream.closeAllConnections();
    upstream.close();
  });
  const { url, registry } = await relayApp(t, upstreamUrl, {}, { idleTimeoutMs: 200 });
  const stalled = await get(`${url}/stall`);
  t.is(stalled.status, 200);
  t.is(stalled.text, 'first');
  t.truthy(stalled.error);
  t.is((await get(`${url}/fine`)).text, 'first and last');
  t.regex(await registry.metrics(), /gatehouse_upstream_requests_total\{upstream="test",outcome="broken"\} 1/);
});

test('the request log reads the client address while the socket is there, and a request without one is logged, never thrown on', async (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const observe = requestObserver(createMetrics(), logger, true);
  const ctx = {
    req: { socket: null, method: 'POST', url: '/reports/upload' },
    res: { statusCode: 401 },
    state: { requestId: 'r1', routeName: 'proxy.reports.post' },
    get ip(): string {
      throw new TypeError("Cannot read properties of null (reading 'remoteAddress')");
    },
  } as unknown as GatehouseContext;
  t.is(clientIp(ctx), '');
  observe(ctx, process.hrtime.bigint());
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  t.is(lines.length, 1);
  t.like(lines[0], { msg: 'request', url: '/reports/upload', status: 401, ip: '' });
});

test('round robin skips a target after 3 refused connections in a row, and tries it again once the skip time is over', async (t) => {
  const live = createServer((_req, res) => res.end('ok'));
  const liveUrl = await listen(live);
  const probe = createServer();
  const refusingUrl = await listen(probe);
  await new Promise((resolve) => probe.close(resolve));
  t.teardown(() => void live.close());
  const registry = new Registry();
  const upstreams = createUpstreams({ registry, logger: pino({ level: 'silent' }) });
  const upstream = upstreams.create({ name: 'pair', targets: [refusingUrl, liveUrl], firstByteTimeoutMs: 2_000, skipMs: 300 });
  t.teardown(() => upstreams.close());
  const app = new Koa<GatehouseState>();
  app.use(async (ctx) => {
    ctx.state.requestId = 'r';
    try {
      await upstream.relay(ctx as GatehouseContext, { method: 'POST', path: '/', headers: {}, responseHeaders: 'all' });
    } catch (error) {
      ctx.status = (error as ApiError).status;
    }
  });
  const server = createServer(app.callback());
  const url = await listen(server);
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) statuses.push((await get(url)).status);
  t.deepEqual(statuses, [502, 200, 502, 200, 502, 200, 200, 200]);
  t.deepEqual(upstreams.status(), { pair: { targets: 2, live: [liveUrl] } });
  await new Promise((resolve) => setTimeout(resolve, 350));
  t.deepEqual(upstreams.status(), { pair: { targets: 2, live: [refusingUrl, liveUrl] } });
  // Back in the rotation: it refuses again (one refusal does not set it aside).
  const again = [(await get(url)).status, (await get(url)).status];
  t.true(again.includes(502));
  t.deepEqual(upstreams.status().pair.live, [refusingUrl, liveUrl]);
});

test('an informational answer (103 Early Hints) before the real one is passed over', async (t) => {
  const upstream = createServer((_req, res) => {
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end('{"created":true}');
  });
  const upstreamUrl = await listen(upstream);
  t.teardown(() => void upstream.close());
  const { url } = await relayApp(t, upstreamUrl, {});
  const response = await get(`${url}/x`);
  t.is(response.status, 201);
  t.is(response.text, '{"created":true}');
});
