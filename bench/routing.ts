/**
 * `npm run bench:routing` (and part of `npm run bench`): what finding a route costs, per request, in
 * microseconds of this process's CPU time, without HTTP or a database in the way. Every route the
 * bundled plugins declare, and a proxy route's (with an auth strategy that accepts everyone and a
 * handler that answers a fixed body) goes into
 * `createApp`, and whole requests run through the app's middleware in this process: front door,
 * route table, pipeline, handler. Only the routing differs from one build to another, so with
 * `BENCH_COMPARE=/path/to/other/checkout` (built) the difference between the two builds' figures is
 * the cost of their routing, measured in the same process in alternating batches.
 *
 * Loaded from each build's `dist/`, so run `npm run build` first (`npm run bench` does).
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import compose from 'koa-compose';
import pino from 'pino';
import { registry } from '../core/plugins/registry.js';
import { createMetrics } from '../core/ops/observability.js';
import { BUILDS, ROOT, median, runBenchmark } from './lib.js';
import { mkdirSync, writeFileSync } from 'node:fs';

const BATCH = Number(process.env.BENCH_ROUTING_BATCH ?? 2_000);
/** Many short batches, alternating builds, and their median: other work on the machine hits both alike. */
const BATCHES = Number(process.env.BENCH_ROUTING_BATCHES ?? 101);

/** Requests measured: the hot static routes, parameterised ones (deep and shallow), and a miss. */
const REQUESTS: Array<{ label: string; method: string; path: string }> = [
  { label: 'GET /api/v4/personal_access_tokens/self', method: 'GET', path: '/api/v4/personal_access_tokens/self' },
  { label: 'POST /api/v4/internal/allowed', method: 'POST', path: '/api/v4/internal/allowed' },
  { label: 'POST /api/v4/code_suggestions/completions', method: 'POST', path: '/api/v4/code_suggestions/completions' },
  { label: 'GET /api/v4/users/:id', method: 'GET', path: '/api/v4/users/7' },
  { label: 'GET …/cluster_agents/:agent_id/tokens/:token_id', method: 'GET', path: '/api/v4/projects/3/cluster_agents/4/tokens/5' },
  { label: 'GET a proxy route (/svc and below)', method: 'GET', path: '/svc/items/42' },
  { label: 'GET unknown path (404)', method: 'GET', path: '/api/v4/nothing/here' },
];

/** Proxy routes as the proxy plugin makes them from config: one per method, taking a whole prefix. */
const PROXY_ROUTES = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((method) => ({ name: `proxy.svc.${method.toLowerCase()}`, method, path: '/svc{/*rest}' }));

/** Every bundled plugin's declared routes (fixed tables only), as the same trivial route. */
function routeTable() {
  const routes = [];
  for (const manifest of registry) {
    if (typeof manifest.routes === 'function') continue;
    for (const route of manifest.routes ?? []) {
      routes.push({
        plugin: manifest.name,
        services: undefined,
        route: {
          name: route.name,
          method: route.method,
          path: route.path,
          auth: { strategy: 'bench', reason: 'routing only' },
          handler(ctx: { body: unknown }) {
            ctx.body = { ok: true };
          },
        },
      });
    }
  }
  for (const route of PROXY_ROUTES) {
    routes.push({
      plugin: 'proxy',
      services: undefined,
      route: {
        ...route,
        auth: { strategy: 'bench', reason: 'routing only' },
        handler(ctx: { body: unknown }) {
          ctx.body = { ok: true };
        },
      },
    });
  }
  const operations = ['/-/health', '/-/readiness', '/-/metrics'].map((path) => ({
    name: `core.${path.slice(2)}`,
    method: 'GET',
    path,
    auth: { strategy: 'bench', reason: 'routing only' },
    handler(ctx: { body: unknown }) {
      ctx.body = { ok: true };
    },
  }));
  return { routes, operations };
}

async function appOf(root: string) {
  const { createApp } = await import(pathToFileURL(join(root, 'dist/core/app.js')).href);
  const logger = pino({ level: 'silent' });
  const { routes, operations } = routeTable();
  const app = createApp({
    config: { server: { trustProxy: false, maxIpsCount: 0, bodyLimit: 1_000_000 }, log: { requests: false }, plugins: {} },
    logger,
    requestLogger: logger,
    metrics: createMetrics(),
    flags: { isEnabled: () => true },
    strategies: new Map([['bench', { authenticate: () => ({ user: undefined }) }]]),
    rateLimiterFor: () => undefined,
    routes,
    operations,
  });
  // Koa's own middleware chain, run as its request handler runs it (minus writing the answer).
  return { app, run: compose(app.middleware) as (ctx: unknown) => Promise<void> };
}

/**
 * A request as Node hands it to Koa, without a socket behind it: nothing is written. A POST carries
 * `{}` as plain JSON, read as the hot routes' bodies are.
 */
function fakeRequest(method: string, path: string, socket = new Socket()) {
  const req = new IncomingMessage(socket);
  req.method = method;
  req.url = path;
  req.headers = { host: 'bench', 'x-request-id': 'bench' };
  if (method !== 'GET') {
    req.headers['content-type'] = 'application/json';
    req.headers['content-length'] = '2';
    req.push('{}');
    req.push(null);
  }
  return req;
}

/**
 * CPU time per request over `count` requests, in µs: the process's own user + system time, which
 * other processes on a busy machine do not inflate the way they inflate elapsed time.
 */
async function timeBatch(target: Awaited<ReturnType<typeof appOf>>, method: string, path: string, count: number): Promise<number> {
  const socket = new Socket();
  const started = process.cpuUsage();
  for (let i = 0; i < count; i++) {
    // A new request each time: a body is read once.
    const req = fakeRequest(method, path, socket);
    const ctx = target.app.createContext(req, new ServerResponse(req));
    await target.run(ctx);
  }
  // The request observer records a turn's requests on setImmediate: let it, inside the timed span.
  await new Promise((done) => setImmediate(done));
  const used = process.cpuUsage(started);
  return (used.user + used.system) / count;
}

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

async function main() {
  const targets = [];
  for (const build of BUILDS) targets.push({ build, ...(await appOf(build.root)) });
  // Every request through every build first, so no figure pays for the JIT warming up on another's code.
  for (const request of REQUESTS) for (const target of targets) await timeBatch(target, request.method, request.path, BATCH * 5);
  const results = [];
  for (const request of REQUESTS) {
    const probe = targets[0].app.createContext(fakeRequest(request.method, request.path), new ServerResponse(fakeRequest(request.method, request.path)));
    await targets[0].run(probe);
    const samples = targets.map(() => [] as number[]);
    for (const target of targets) await timeBatch(target, request.method, request.path, BATCH);
    for (let batch = 0; batch < BATCHES; batch++) {
      const order = batch % 2 === 0 ? targets.map((_, i) => i) : targets.map((_, i) => i).reverse();
      for (const index of order) samples[index].push(await timeBatch(targets[index], request.method, request.path, BATCH));
    }
    results.push({
      request: request.label,
      status: probe.status,
      route: probe.state.routeName ?? null,
      usPerRequest: Object.fromEntries(targets.map((target, i) => [target.build.label, round(median(samples[i]))])),
    });
  }
  const report = { date: new Date().toISOString(), node: process.version, batch: BATCH, batches: BATCHES, results };
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/routing.json'), `${JSON.stringify(report, null, 2)}\n`);
  const labels = targets.map((target) => target.build.label);
  const lines = [`CPU µs per request through the app's middleware (median of ${BATCHES} batches of ${BATCH}): ${labels.join(' | ')}`];
  for (const result of results) {
    const figures = labels.map((label) => result.usPerRequest[label]);
    const difference = figures.length > 1 ? `  (this − other: ${figures.slice(1).map((other) => round(figures[0] - other)).join(', ')} µs)` : '';
    lines.push(`${result.request.padEnd(50)} ${result.status} ${figures.join(' | ')}${difference}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

runBenchmark(main);
