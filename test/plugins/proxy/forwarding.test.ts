import test from 'ava';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify, decodeJwt } from 'jose';
import { EXTERNAL_URL, backendName } from '../../helpers/app.js';
import {
  BAD_GATEWAY,
  FakeUpstream,
  GATEWAY_TIMEOUT,
  TOO_LARGE,
  eventually,
  rawRequest,
  refusingUrl,
  routeConfig,
  startProxyApp,
  userWithToken,
} from './_support.js';

test(`[${backendName}] the path prefix and everything below it pass on with the query; other paths are not the route's`, async (t) => {
  const fake = await FakeUpstream.start();
  const app = await startProxyApp([routeConfig({ upstreams: [fake.url] })]);
  t.teardown(async () => {
    await app.close();
    await fake.close();
  });
  const { plaintext } = await userWithToken(app);
  for (const path of ['/reports', '/reports/', '/reports/2026/q1.pdf?format=pdf&page=2', '/reports/a%20b/c?q=x%26y']) {
    const response = await app.request(path, { token: plaintext });
    t.is(response.status, 200, path);
    t.is(fake.last.url, path);
  }
  const count = fake.received.length;
  // Dot segments would let the upstream resolve the path outside the prefix: refused, never passed on.
  for (const path of ['/reports/../admin', '/reports/%2e%2e/admin', '/reports/a/%2E/b', '/reports/..']) {
    const refused = await rawRequest(`${app.url}${path}`, { headers: { 'private-token': plaintext } });
    t.is(refused.status, 400, path);
    t.deepEqual(refused.json(), { message: '400 Bad request' }, path);
  }
  t.is(fake.received.length, count);
  t.is((await app.request('/reports/a..b/.hidden', { token: plaintext })).status, 200);
  t.is(fake.last.url, '/reports/a..b/.hidden');
  t.is((await app.request('/reportsx', { token: plaintext })).status, 404);
  t.is((await app.request('/report', { token: plaintext })).status, 404);
  t.is(fake.received.length, count + 1);
});

test(`[${backendName}] stripPrefix removes the prefix; a target's base path is kept in front`, async (t) => {
  const fake = await FakeUpstream.start();
  const app = await startProxyApp([
    routeConfig({ upstreams: [fake.url], stripPrefix: true }),
    routeConfig({ name: 'based', path: '/internal/dash', upstreams: [`${fake.url}/base/`], stripPrefix: true }),
  ]);
  t.teardown(async () => {
    await app.close();
    await fake.close();
  });
  const { plaintext } = await userWithToken(app);
  const cases: Array<[string, string]> = [
    ['/reports', '/'],
    ['/reports/', '/'],
    ['/reports?x=1', '/?x=1'],
    ['/reports/a/b.json?x=1&x=2', '/a/b.json?x=1&x=2'],
    ['/internal/dash/panels?id=3', '/base/panels?id=3'],
    ['/internal/dash', '/base/'],
  ];
  for (const [path, upstreamPath] of cases) {
    t.is((await app.request(path, { token: plaintext })).status, 200, path);
    t.is(fake.last.url, upstreamPath, path);
  }
});

test(`[${backendName}] methods: only the configured ones pass (GET also serves HEAD); bodies arrive as sent`, async (t) => {
  const fake = await FakeUpstream.start();
  const app = await startProxyApp([
    routeConfig({ upstreams: [fake.url], methods: ['GET', 'POST'] }),
    routeConfig({ name: 'all', path: '/all', upstreams: [fake.url] }),
  ]);
  t.teardown(async () => {
    await app.close();
    await fake.close();
  });
  const { plaintext } = await userWithToken(app, ['api']);
  const post = await rawRequest(`${app.url}/reports/new`, {
    method: 'POST',
    headers: { 'private-token': plaintext, 'content-type': 'text/csv' },
    body: 'a,b\n1,2\n',
  });
  t.is(post.status, 200);
  t.is(fake.last.method, 'POST');
  t.is(fake.last.body.toString(), 'a,b\n1,2\n');
  t.is(fake.last.headers['content-type'], 'text/csv');
  t.is(fake.last.headers['content-length'], '8');

  const count = fake.received.length;
  for (const method of ['PUT', 'PATCH', 'DELETE']) {
    const refused = await rawRequest(`${app.url}/reports/x`, { method, headers: { 'private-token': plaintext } });
    t.is(refused.status, 404, method);
  }
  t.is(fake.received.length, count);

  const head = await rawRequest(`${app.url}/reports/x`, { method: 'HEAD', headers: { 'private-token': plaintext } });
  t.is(head.status, 200);
  t.is(fake.last.method, 'HEAD');

  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
    const response = await rawRequest(`${app.url}/all/item`, {
      method,
      headers: { 'private-token': plaintext, 'content-type': 'application/json', ...(method === 'GET' ? {} : { 'content-length': '7' }) },
      body: method === 'GET' ? undefined : '{"n":1}',
    });
    t.is(response.status, 200, `${method}: ${response.text}`);
    t.is(fake.last.method, method);
    // A JSON body is passed on as bytes, never parsed.
    if (method !== 'GET') t.is(fake.last.body.toString(), '{"n":1}');
  }
});

test(`[${backendName}] the caller's credentials never reach the upstream; hop-by-hop and forged headers are dropped; forwarding headers are set`, async (t) => {
  const fake = await FakeUpstream.start();
  const app = await startProxyApp([routeConfig({ upstreams: [fake.url], identity: 'none' })]);
  t.teardown(async () => {
    await app.close();
    await fake.close();
  });
  const { plaintext } = await userWithToken(app);
  const forged = {
    'x-gatehouse-user-id': '1',
    'x-gatehouse-username': 'root',
    'x-gatehouse-scopes': 'api,sudo',
    cookie: '_gitlab_session=abc',
    'job-token': 'job-secret',
    connection: 'keep-alive, x-hop',
    'x-hop': 'gone',
    'keep-alive': 'timeout=5',
    te: 'trailers',
    'x-forwarded-for': '6.6.6.6',
    'x-forwarded-host': 'evil.example',
    'x-request-id': 'caller-chosen',
    'x-custom': 'kept',
    'user-agent': 'report-cli/1.0',
  };
  for (const mode of ['private-token', 'bearer', 'query']) {
    const headers: Record<string, string> = { ...forged };
    let path = '/reports/list?page=2';
    if (mode === 'private-token') headers['private-token'] = plaintext;
    else if (mode === 'bearer') headers.authorization = `Bearer ${plaintext}`;
    else path += `&private_token=${plaintext}&access_token=${plaintext}`;
    const response = await rawRequest(`${app.url}${path}`, { headers });
    t.is(response.status, 200, mode);
    const seen = fake.last;
    t.is(seen.url, '/reports/list?page=2', mode);
    t.false(JSON.stringify(seen.headers).includes(plaintext), mode);
    for (const name of ['authorization', 'private-token', 'cookie', 'job-token', 'x-gatehouse-user-id', 'x-gatehouse-username', 'x-gatehouse-scopes', 'x-hop', 'te']) {
      t.is(seen.headers[name], undefined, `${mode}: ${name}`);
    }
    t.is(seen.headers['keep-alive'], undefined);
    t.is(seen.headers['x-custom'], 'kept');
    t.is(seen.headers['user-agent'], 'report-cli/1.0');
    // Not behind a trusted proxy: the client's own X-Forwarded-* are replaced, not extended.
    t.is(seen.headers['x-forwarded-for'], '127.0.0.1');
    t.is(seen.headers['x-forwarded-proto'], 'http');
    t.is(seen.headers['x-forwarded-host'], new URL(app.url).host);
    t.is(seen.headers.host, new URL(fake.url).host);
    t.is(seen.headers['x-request-id'], response.headers['x-request-id']);
  }
});

test(`[${backendName}] behind a trusted proxy, X-Forwarded-For keeps the chain and adds the peer`, async (t) => {
  const fake = await FakeUpstream.start();
  const app = await startProxyApp([routeConfig({ upstreams: [fake.url], identity: 'none' })], { config: { server: { trustProxy: true } } });
  t.teardown(async () => {
    await app.close();
    await fake.close();
  });
  const { plaintext } = await userWithToken(app);
  await rawRequest(`${app.url}/reports`, { headers: { 'private-token': plaintext, 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'gitlab.example.com' } });
  t.is(fake.last.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
  t.is(fake.last.headers['x-forwarded-proto'], 'https');
  t.is(fake.last.headers['x-forwarded-host'], 'gitlab.example.com');
});

test(`[${backendName}] identity jwt: an RS256 token the upstream verifies against /oauth/discovery/keys (code-suggestions disabled); reused per caller, renewed before expiry; forged Authorization replaced`, async (t) => {
  const fake = await FakeUpstream.start();
  // Core publishes the instance key: no other plugin is needed for the upstream to verify.
  const app = await startProxyApp([routeConfig({ upstreams: [fake.url] })], { config: { plugins: { 'code-suggestions': { enabled: false } } } });
  t.teardown(async () => {
    await app.close();
    await fake.close();
  });
  const { user, plaintext } = await userWithToken(app, ['read_api', 'read_user']);
  const response = await app.request('/reports', { token: plaintext });
  t.is(response.status, 200);
  const header = fake.last.headers.authorization!;
  t.regex(header, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
  const token = header.slice('Bearer '.length);
  const jwks = createRemoteJWKSet(new URL(`${app.url}/oauth/discovery/keys`));
  const now = Date.parse('2026-11-22T10:00:00.000Z') / 1000;
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: EXTERNAL_URL, audience: 'reports', algorithms: ['RS256'], currentDate: new Date(now * 1000) });
  t.is(protectedHeader.alg, 'RS256');
  t.is(protectedHeader.kid, app.gateway.instanceKeys.currentKid);
  t.is(payload.sub, String(user.id));
  t.is(payload.username, user.username);
  t.deepEqual(payload.scopes, ['read_api', 'read_user']);
  t.is(payload.admin, false);
  t.is(payload.iat, now);
  t.is(payload.exp, now + 300);

  // The same caller: the same token, until shortly before it expires.
  await app.request('/reports/again', { token: plaintext, auth: 'bearer' });
  t.is(fake.last.headers.authorization, header);
  app.clock.advance(250_000);
  await app.request('/reports', { token: plaintext });
  t.not(fake.last.headers.authorization, header);
  t.is(decodeJwt(fake.last.headers.authorization!.slice(7)).iat, now + 250);

  // An admin's token says so.
  const admin = await userWithToken(app, ['api'], { admin: true });
  await app.request('/reports', { token: admin.plaintext });
  t.is(decodeJwt(fake.last.headers.authorization!.slice(7)).admin, true);
});

test(`[${backendName}] identity headers: X-Gatehouse-User-Id, -Username and -Scopes from the caller, whatever the caller sent; identity none sends nothing`, async (t) => {
  const fake = await FakeUpstream.start();
  const app = await startProxyApp([
    routeConfig({ upstreams: [fake.url], identity: 'headers' }),
    routeConfig({ name: 'anon', path: '/anon', upstreams: [fake.url], identity: 'none' }),
  ]);
  t.teardown(async () => {
    await app.close();
    await fake.close();
  });
  const { user, plaintext } = await userWithToken(app, ['read_api', 'api']);
  const forged = { 'X-Gatehouse-User-Id': '1', 'X-Gatehouse-Username': 'root', 'X-Gatehouse-Scopes': 'sudo' };
  await app.request('/reports', { token: plaintext, headers: forged });
  t.is(fake.last.headers['x-gatehouse-user-id'], String(user.id));
  t.is(fake.last.headers['x-gatehouse-username'], user.username);
  t.is(fake.last.headers['x-gatehouse-scopes'], 'read_api,api');
  t.is(fake.last.headers.authorization, undefined);

  await app.request('/anon', { token: plaintext, headers: forged });
  for (const name of ['x-gatehouse-user-id', 'x-gatehouse-username', 'x-gatehouse-scopes', 'authorization']) t.is(fake.last.headers[name], undefined, name);
});

test(`[${backendName}] the upstream's own answers, 4xx and 5xx included, are relayed as they are`, async (t) => {
  const fake = await FakeUpstream.start((req, res) => {
    const status = Number(new URL(req.url!, 'http://x').searchParams.get('status'));
    const sized = new URL(req.url!, 'http://x').searchParams.has('sized');
    res.writeHead(status, [
      ['content-type', 'text/plain; charset=utf-8'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['x-report-id', '42'],
      ['x-request-id', 'upstream-own'],
      ['x-frame-options', 'DENY'],
      // A 204 announced as empty, as some servers do though they should not.
      ...(sized ? [['content-length', status === 204 ? '0' : String(`answer ${status}`.length)]] : []),
    ] as never);
    res.end(status === 204 ? undefined : `answer ${status}`);
  });
  const app = await startProxyApp([routeConfig({ upstreams: [fake.url] })]);
  t.teardown(async () => {
    await app.close();
    await fake.close();
  });
  const { plaintext } = await userWithToken(app);
  // Answers of unannounced length (streamed on), and of announced length (read whole, then written).
  for (const [status, sized] of [200, 201, 204, 400, 404, 409, 422, 500, 502, 503].flatMap((status) => [[status, false], [status, true]] as const)) {
    const response = await rawRequest(`${app.url}/reports?status=${status}${sized ? '&sized' : ''}`, { headers: { 'private-token': plaintext } });
    t.is(response.status, status);
    if (status !== 204) t.is(response.text, `answer ${status}`);
    if (status !== 204) t.is(response.headers['content-type'], 'text/plain; charset=utf-8');
    // A 204 has neither a body nor a Content-Length (RFC 9110 §8.6); the others keep their length.
    t.is(response.headers['content-length'], status === 204 || !sized ? undefined : String(`answer ${status}`.length));
    t.deepEqual(response.headers['set-cookie'], ['a=1', 'b=2']);
    t.is(response.headers['x-report-id'], '42');
    // gatehouse's request id replaces the upstream's; its other standard headers join the answer
    // once, except where the upstream sent its own.
    t.regex(String(response.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    t.is(response.headers['x-frame-options'], 'DENY');
    t.is(response.headers['x-content-type-options'], 'nosniff');
  }
  // The upstream's content type stands as sent, JSON included (gatehouse's own JSON is typed GitLab's way).
  fake.handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
    res.end('{"ok":true}');
  };
  const json = await rawRequest(`${app.url}/reports/json`, { headers: { 'private-token': plaintext } });
  t.is(json.status, 200);
  t.is(json.headers['content-type'], 'application/json; charset=utf-8');
  t.is(json.text, '{"ok":true}');
});

test(`[${backendName}] streamed answers: the first chunk reaches the client before the upstream has finished`, async (t) => {
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const fake = await FakeUpstream.start(async (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: first\n\n');
    await finished;
    res.end('data: last\n\n');
  });
  const app = await startProxyApp([routeConfig({ upstreams: [fake.url] })]);
  t.teardown(async () => {
    finish();
    await app.close();
    await fake.close();
  });
  const { plaintext } = await userWithToken(app);
  const chunks: string[] = [];
  const done = new Promise<void>((resolve, reject) => {
    const req = httpRequest(`${app.url}/reports/events`, { headers: { 'private-token': plaintext } }, (res) => {
      t.is(res.statusCode, 200);
      t.is(res.headers['content-type'], 'text/event-stream');
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk.toString());
        // The upstream is told to finish only once the first event arrived here.
        if (chunks.length === 1) finish();
      });
      res.on('end', resolve);
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  await done;
  t.is(chunks[0], 'data: first\n\n');
  t.is(chunks.join(''), 'data: first\n\ndata: last\n\n');
});

test(`[${backendName}] a client that goes away aborts the upstream request, before and during the answer`, async (t) => {
  const fake = await FakeUpstream.start(async (req, res) => {
    if (req.url!.includes('during')) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
    }
    // Never finishes.
  });
  const app = await startProxyApp([routeConfig({ upstreams: [fake.url] })]);
  t.teardown(async () => {
    await app.close();
    await fake.close();
  });
  const { plaintext } = await userWithToken(app);
  for (const when of ['before', 'during']) {
    const req = httpRequest(`${app.url}/reports/${when}`, { headers: { 'private-token': plaintext }, agent: false }, (res) => {
      res.once('data', () => req.destroy());
    });
    req.on('error', () => {});
    req.end();
    t.true(await eventually(() => fake.received.some((r) => r.url.endsWith(when))), when);
    if (when === 'before') req.destroy();
    t.true(await eventually(() => fake.aborted.some((r) => r.url.endsWith(when))), `${when}: upstream request aborted`);
  }
  // An upload the client abandons halfway: the upstream request is aborted too.
  const upload = httpRequest(`${app.url}/reports/upload`, { method: 'POST', headers: { 'private-token': plaintext, 'transfer-encoding': 'chunked' }, agent: false });
  upload.on('error', () => {});
  upload.write(Buffer.alloc(1024, 1));
  t.true(await eventually(() => fake.received.some((r) => r.url === '/reports/upload')));
  upload.destroy();
  t.true(await eventually(() => fake.aborted.some((r) => r.url === '/reports/upload')), 'upload: upstream request aborted');
  // The gateway goes on serving.
  fake.handler = (_req, res) => res.end('ok');
  t.is((await app.request('/reports/after', { token: plaintext })).status, 200);
});

test(`[${backendName}] unreachable, reset or broken upstreams → 502; no first byte within timeoutMs → 504`, async (t) => {
  const fake = await FakeUpstream.start((req, res) => {
    if (req.url === '/reports/reset') req.socket.destroy();
    else if (req.url === '/reports/broken') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"partial":');
      setTimeout(() => req.socket.destroy(), 20);
    } else if (req.url === '/reports/slow') {
      // Never answers: the gateway gives up first.
    } else res.end('ok');
  });
  const nobody = await refusingUrl();
  const app = await startProxyApp([
    routeConfig({ upstreams: [fake.url], timeoutMs: 300 }),
    routeConfig({ name: 'gone', path: '/gone', upstreams: [nobody] }),
  ]);
  t.teardown(async () => {
    await app.close();
    await fake.close();
  });
  const { plaintext } = await userWithToken(app);
  for (const [path, status, body] of [
    ['/gone/x', 502, BAD_GATEWAY],
    ['/reports/reset', 502, BAD_GATEWAY],
    ['/reports/broken', 502, BAD_GATEWAY],
    ['/reports/slow', 504, GATEWAY_TIMEOUT],
  ] as const) {
    const response = await app.request(path, { token: plaintext });
    t.is(response.status, status, path);
    t.deepEqual(response.body, body, path);
    t.is(response.headers.get('content-type'), 'application/json', path);
  }
  t.is((await app.request('/reports/fine', { token: plaintext })).status, 200);
});

test(`[${backendName}] bodies over maxBodyBytes → 413 in GitLab's shape, declared or chunked; nothing (or no whole body) upstream`, async (t) => {
  const fake = await FakeUpstream.start();
  const app = await startProxyApp([routeConfig({ upstreams: [fake.url], maxBodyBytes: 1000 })]);
  t.teardown(async () => {
    await app.close();
    await fake.close();
  });
  const { plaintext } = await userWithToken(app, ['api']);
  const declared = await rawRequest(`${app.url}/reports/upload`, { method: 'POST', headers: { 'private-token': plaintext, 'content-type': 'application/octet-stream' }, body: Buffer.alloc(1001) });
  t.is(declared.status, 413);
  t.deepEqual(declared.json(), TOO_LARGE);
  t.is(fake.received.length, 0);

  const chunked = await rawRequest(`${app.url}/reports/upload`, {
    method: 'POST',
    headers: { 'private-token': plaintext, 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' },
    body: (req) => {
      req.write(Buffer.alloc(600));
      setTimeout(() => req.end(Buffer.alloc(600)), 20);
    },
  });
  t.is(chunked.status, 413);
  t.deepEqual(chunked.json(), TOO_LARGE);
  t.true(fake.received.every((received) => received.bytes <= 1000));

  // Over the limit in the very first chunk, sent with the headers: the body overflows while the relay
  // is still starting (or after the upstream let go of it). Still a 413, and the process lives on.
  for (let i = 0; i < 10; i++) {
    const atOnce = await rawRequest(`${app.url}/reports/upload`, {
      method: 'POST',
      headers: { 'private-token': plaintext, 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' },
      body: (req) => req.end(Buffer.alloc(64 * 1024)),
    });
    t.is(atOnce.status, 413);
    t.deepEqual(atOnce.json(), TOO_LARGE);
  }
  t.true(fake.received.every((received) => received.bytes <= 1000));

  const fits = await rawRequest(`${app.url}/reports/upload`, { method: 'POST', headers: { 'private-token': plaintext, 'transfer-encoding': 'chunked' }, body: Buffer.alloc(1000, 1) });
  t.is(fits.status, 200);
  t.is(fake.last.bytes, 1000);
});

test(`[${backendName}] an upstream that answers before reading the whole body: the answer is relayed and the connection closes, so the rest is never read as a request`, async (t) => {
  // A service refusing uploads up front, without reading them (as one checking a header would).
  const refusing = createServer((_req, res) => {
    res.writeHead(409, { 'content-type': 'application/json' });
    res.end('{"message":"exists"}');
  });
  await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
  const refusingUrl = `http://127.0.0.1:${(refusing.address() as AddressInfo).port}`;
  const app = await startProxyApp([routeConfig({ upstreams: [refusingUrl], maxBodyBytes: 100 * 1024 * 1024 })]);
  t.teardown(async () => {
    await app.close();
    refusing.closeAllConnections();
    refusing.close();
  });
  const { plaintext } = await userWithToken(app, ['api']);
  const body = Buffer.alloc(8 * 1024 * 1024, 'x');
  const response = await rawRequest(`${app.url}/reports/upload`, { method: 'POST', headers: { 'private-token': plaintext, 'content-length': String(body.length) }, body }).catch(
    (error: Error) => ({ status: 0, text: error.message, headers: {} as Record<string, string> }),
  );
  // The client may see the answer, or the connection closing while it still sends: never another request's answer.
  if (response.status !== 0) {
    t.is(response.status, 409);
    t.is(response.text, '{"message":"exists"}');
    t.is(response.headers.connection, 'close');
  }
  t.is((await app.request('/reports/after', { token: plaintext })).status, 409);
});
