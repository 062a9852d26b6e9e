import { request as httpRequest } from 'node:http';
import test from 'ava';
import { definePlugin } from '../../core/plugins/types.js';
import { registry } from '../../core/plugins/registry.js';
import { startTestApp, ROOT_TOKEN, type TestApp } from '../helpers/app.js';

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

test('unmatched /api/v4 paths answer GitLab\'s catch-all 404 with the error key', async (t) => {
  const response = await app.request('/api/v4/does/not/exist', { token: ROOT_TOKEN });
  t.is(response.status, 404);
  t.deepEqual(response.body, { error: '404 Not Found' });
  t.regex(response.headers.get('content-type')!, /^application\/json/);
  t.is(response.headers.get('x-content-type-options'), 'nosniff');
});

test('/api/v3 is gone with GitLab\'s 410', async (t) => {
  const response = await app.request('/api/v3/user');
  t.is(response.status, 410);
  t.deepEqual(response.body, { error: 'API V3 is no longer supported. Use API V4 instead.' });
});

test('a client X-Request-Id is echoed; otherwise one is generated', async (t) => {
  const echoed = await app.request('/-/health', { headers: { 'X-Request-Id': 'abc-123' } });
  t.is(echoed.headers.get('x-request-id'), 'abc-123');
  const generated = await app.request('/-/health');
  t.regex(generated.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/);
  const unsafe = await app.request('/-/health', { headers: { 'X-Request-Id': 'a b\tc' } });
  t.not(unsafe.headers.get('x-request-id'), 'a b\tc');
});

test('health, readiness and metrics', async (t) => {
  const health = await app.request('/-/health');
  t.is(health.status, 200);
  t.deepEqual(health.body, { status: 'ok' });
  const ready = await app.request('/-/readiness');
  t.is(ready.status, 200);
  t.is(ready.body.status, 'ok');
  t.deepEqual(ready.body.checks.db, { status: 'ok' });
  // The staleness bound is the longest cache TTL (10 s by default); other instances are reached with Redis.
  const redis = Boolean(app.gateway.redis);
  t.deepEqual(ready.body.checks.cache_invalidation, { status: 'ok', distributed: redis, delivering: redis, staleness_bound_ms: 10_000 });
  await app.request('/api/v4/version', { token: ROOT_TOKEN });
  const metrics = await app.request('/-/metrics');
  t.is(metrics.status, 200);
  t.regex(metrics.text, /gatehouse_http_requests_total\{route="directory.version",method="GET",status="200"\} 1/);
  t.regex(metrics.text, /gatehouse_http_request_duration_seconds_bucket\{le="0.005",route="directory.version"\}/);
});

test('malformed JSON is a 400 in GitLab\'s bad-request shape', async (t) => {
  const response = await app.request('/api/v4/personal_access_tokens/self', {
    method: 'DELETE',
    token: ROOT_TOKEN,
    raw: '{"name":',
    headers: { 'Content-Type': 'application/json' },
  });
  t.is(response.status, 400);
  t.regex(response.body.message, /^400 Bad request - /);
});

test('bodies over the limit get 413 and nothing is stored', async (t) => {
  const big = 'x'.repeat(3 * 1024 * 1024);
  const response = await app.request('/api/v4/user/personal_access_tokens', {
    method: 'POST',
    token: ROOT_TOKEN,
    body: { name: big, scopes: ['k8s_proxy'] },
  });
  t.is(response.status, 413);
  t.deepEqual(response.body, { message: '413 Request Entity Too Large' });
});

/** POSTs a JSON body in several chunks without Content-Length (chunked transfer), as a streaming client does. */
function postChunked(path: string, chunks: string[]): Promise<{ status: number; body: any }> {
  const url = new URL(path, app.url);
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'PRIVATE-TOKEN': ROOT_TOKEN } }, (response) => {
      let text = '';
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, body: JSON.parse(text) }));
    });
    request.on('error', reject);
    const write = (i: number) => {
      if (i === chunks.length) return void request.end();
      request.write(chunks[i], () => setTimeout(() => write(i + 1), 5));
    };
    write(0);
  });
}

test('plain JSON bodies arriving in chunks are read whole; past the limit they are 413 and nothing is stored', async (t) => {
  const name = `chunked-${Date.now()}`;
  const json = JSON.stringify({ name, scopes: ['k8s_proxy'], expires_at: '2026-12-01' });
  const pieces = [json.slice(0, 7), json.slice(7, 20), json.slice(20)];
  const created = await postChunked('/api/v4/user/personal_access_tokens', pieces);
  t.is(created.status, 201);
  t.is(created.body.name, name);

  const big = `{"name":"${'x'.repeat(1024 * 1024)}`;
  const tooBig = await postChunked('/api/v4/user/personal_access_tokens', [big, big, big, '"}']);
  t.is(tooBig.status, 413);
  t.deepEqual(tooBig.body, { message: '413 Request Entity Too Large' });
  t.is(await app.db('tokens_personal_access_tokens').where('name', 'like', 'x%').count('* as n').first().then((row: any) => Number(row.n)), 0);
});

test('request logs name the route and never contain a token', async (t) => {
  const logged = await startTestApp({ captureLogs: true, config: { log: { requests: true } } });
  try {
    await logged.request(`/api/v4/version?private_token=${ROOT_TOKEN}`);
    await logged.request('/api/v4/version', { token: ROOT_TOKEN, auth: 'bearer' });
    await logged.request('/api/v4/version', { token: ROOT_TOKEN });
    const lines = logged.logs.filter((line) => line.msg === 'request');
    t.is(lines.length, 3);
    t.deepEqual(
      lines.map((line) => [line.route, line.status, line.userId]),
      [
        ['directory.version', 200, 1],
        ['directory.version', 200, 1],
        ['directory.version', 200, 1],
      ],
    );
    t.is(lines[0].url, '/api/v4/version?private_token=[FILTERED]');
    t.is(lines[0].method, 'GET');
    for (const field of ['requestId', 'method', 'url', 'route', 'status', 'ms', 'userId', 'ip']) t.true(field in lines[0], field);
    t.regex(lines[0].requestId, /^[0-9a-f-]{36}$/);
    t.false(JSON.stringify(logged.logs).includes(ROOT_TOKEN));
  } finally {
    await logged.close();
  }
});

test('JSON bodies must be objects or arrays, and may not carry __proto__; nothing is stored', async (t) => {
  for (const raw of ['"a string"', '42', '{"name":"x","__proto__":{"admin":true}}']) {
    const response = await app.request('/api/v4/user/personal_access_tokens', {
      method: 'POST',
      token: ROOT_TOKEN,
      raw,
      headers: { 'Content-Type': 'application/json' },
    });
    t.is(response.status, 400, raw);
    t.regex(response.body.message, /^400 Bad request - /, raw);
  }
  t.is((await app.db('tokens_personal_access_tokens').where({ name: 'x' })).length, 0);
});

test('JSON with a charset, form bodies and an empty JSON body are all read', async (t) => {
  const json = await app.request('/api/v4/user/personal_access_tokens', {
    method: 'POST',
    token: ROOT_TOKEN,
    raw: JSON.stringify({ name: 'charset', scopes: ['k8s_proxy'] }),
    headers: { 'Content-Type': 'application/json; charset=utf-8' },
  });
  t.is(json.status, 201);
  const form = await app.request('/api/v4/user/personal_access_tokens', { method: 'POST', token: ROOT_TOKEN, form: { name: 'form', 'scopes[]': ['k8s_proxy', 'self_rotate'] } });
  t.is(form.status, 201);
  t.deepEqual(form.body.scopes, ['k8s_proxy', 'self_rotate']);
  const empty = await app.request('/api/v4/user/personal_access_tokens', { method: 'POST', token: ROOT_TOKEN, raw: '', headers: { 'Content-Type': 'application/json' } });
  t.is(empty.status, 400);
  t.deepEqual(empty.body, { error: 'name is missing, scopes, granular_scopes are missing, exactly one parameter must be provided' });
});

test('the app takes no middleware besides its routes: adding one is refused rather than silently never run', (t) => {
  t.throws(() => app.gateway.app.use(async () => {}), { message: 'the gatehouse app takes no middleware: declare routes in a plugin manifest' });
});

test('HEAD answers with the length a GET would have and no body', async (t) => {
  const get = await app.request('/-/health');
  const head = await fetch(`${app.url}/-/health`, { method: 'HEAD' });
  t.is(head.status, 200);
  t.is(head.headers.get('content-length'), String(Buffer.byteLength(JSON.stringify(get.body))));
  t.is(await head.text(), '');
});

test('an answer that cannot be written as JSON is a 500, and the gateway goes on serving', async (t) => {
  const broken = definePlugin({
    name: 'broken',
    version: '1.0.0',
    core: '^1.0.0',
    description: 'A route whose body JSON cannot serialise.',
    routes: [
      {
        name: 'broken.bigint',
        method: 'GET',
        path: '/api/v4/broken',
        auth: { strategy: 'none', reason: 'test route' },
        handler(ctx) {
          ctx.body = { count: 1n };
        },
      },
    ],
  });
  const own = await startTestApp({ registry: [...registry, broken] });
  try {
    const response = await own.request('/api/v4/broken');
    t.is(response.status, 500);
    t.is((await own.request('/-/health')).status, 200);
  } finally {
    await own.close();
  }
});
