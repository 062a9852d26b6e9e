import test from 'ava';
import { backendName, startTestApp, TEST_DATABASE_URL, TEST_REDIS_URL } from '../../helpers/app.js';
import {
  FakeUpstream,
  NOT_FOUND,
  RATE_LIMITED,
  UNAUTHORIZED,
  insufficientScope,
  rawRequest,
  routeConfig,
  startProxyApp,
  userWithToken,
} from './_support.js';

test(`[${backendName}] the route matrix: 401 without credentials, 403 for a scope it does not accept, 404 with its flag off, 400 for a malformed path, 2xx passed on`, async (t) => {
  const fake = await FakeUpstream.start();
  const app = await startProxyApp([routeConfig({ upstreams: [fake.url], auth: { strategy: 'token', scopes: ['read_api'] }, flag: 'reports_proxy' })]);
  t.teardown(async () => {
    await app.close();
    await fake.close();
  });
  const { plaintext } = await userWithToken(app, ['read_api']);
  const wrongScope = await userWithToken(app, ['read_user']);

  const none = await app.request('/reports/a');
  t.is(none.status, 401);
  t.deepEqual(none.body, UNAUTHORIZED);
  const post = await app.request('/reports/a', { method: 'POST', body: { x: 1 } });
  t.is(post.status, 401);

  const scope = await app.request('/reports/a', { token: wrongScope.plaintext });
  t.is(scope.status, 403);
  t.deepEqual(scope.body, insufficientScope('api read_api'));

  const nul = await app.request('/reports/a%00b', { token: plaintext });
  t.is(nul.status, 400);
  t.is(fake.received.length, 0);

  t.is((await app.request('/reports/a', { token: plaintext })).status, 200);
  t.is(fake.received.length, 1);

  // The flag is declared by the plugin, on by default; off, the route does not exist.
  t.true(app.gateway.flags.isDeclared('reports_proxy'));
  app.flags.set('reports_proxy', false);
  const off = await app.request('/reports/a', { token: plaintext });
  t.is(off.status, 404);
  t.deepEqual(off.body, NOT_FOUND);
  t.is(fake.received.length, 1);
});

test(`[${backendName}] a public route (strategy none) passes anonymous callers on, with no identity`, async (t) => {
  const fake = await FakeUpstream.start();
  const app = await startProxyApp([routeConfig({ name: 'status', path: '/status', upstreams: [fake.url], auth: { strategy: 'none', reason: 'public status page' } })]);
  t.teardown(async () => {
    await app.close();
    await fake.close();
  });
  const response = await app.request('/status/now', { headers: { 'X-Gatehouse-User-Id': '1' } });
  t.is(response.status, 200);
  t.is(fake.last.headers.authorization, undefined);
  t.is(fake.last.headers['x-gatehouse-user-id'], undefined);
});

test(`[${backendName}] rateLimit counts every method of the route together, per user; 429 in GitLab's shape with Retry-After`, async (t) => {
  const fake = await FakeUpstream.start();
  const app = await startProxyApp([routeConfig({ upstreams: [fake.url], auth: { strategy: 'token', scopes: ['api'] }, rateLimit: { max: 2, windowMs: 60_000, by: 'user' } })]);
  t.teardown(async () => {
    await app.close();
    await fake.close();
  });
  const alice = await userWithToken(app, ['api']);
  const bob = await userWithToken(app, ['api']);
  t.is((await app.request('/reports/a', { token: alice.plaintext })).status, 200);
  t.is((await app.request('/reports/b', { method: 'POST', token: alice.plaintext, body: { n: 1 } })).status, 200);
  const limited = await app.request('/reports/c', { method: 'DELETE', token: alice.plaintext });
  t.is(limited.status, 429);
  t.deepEqual(limited.body, RATE_LIMITED);
  t.is(limited.headers.get('retry-after'), '60');
  t.is(fake.received.length, 2);
  t.is((await app.request('/reports/a', { token: bob.plaintext })).status, 200);
});

test(`[${backendName}] nothing a client does ends the process: uploads refused before their body is read, with request logging on`, async (t) => {
  const fake = await FakeUpstream.start();
  const app = await startProxyApp([routeConfig({ upstreams: [fake.url], maxBodyBytes: 1024 })], { config: { log: { requests: true } }, captureLogs: true });
  t.teardown(async () => {
    await app.close();
    await fake.close();
  });
  const { plaintext } = await userWithToken(app, ['api']);
  const big = Buffer.alloc(4 * 1024 * 1024, 1);
  for (let i = 0; i < 5; i++) {
    // Refused by authentication, and by the size limit, without the gateway reading the body.
    const unauthenticated = await rawRequest(`${app.url}/reports/upload`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': String(big.length) }, body: big }).catch(
      (error: Error) => ({ status: 0, error }),
    );
    t.true(unauthenticated.status === 401 || unauthenticated.status === 0);
    const tooLarge = await rawRequest(`${app.url}/reports/upload`, { method: 'POST', headers: { 'private-token': plaintext, 'content-length': String(big.length) }, body: big }).catch(
      (error: Error) => ({ status: 0, error }),
    );
    t.true(tooLarge.status === 413 || tooLarge.status === 0);
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.is((await app.request('/reports/after', { token: plaintext })).status, 200);
  const lines = app.logs.filter((line) => line.msg === 'request' && line.url === '/reports/upload');
  t.true(lines.length > 0);
  t.true(lines.every((line) => typeof line.ip === 'string'));
  // A body relayed upstream leaves the request without its socket (undici detaches it): the address was read before.
  const relayed = await rawRequest(`${app.url}/reports/relayed`, { method: 'POST', headers: { 'private-token': plaintext, 'content-length': '2' }, body: '{}' });
  t.is(relayed.status, 200);
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.is(app.logs.find((line) => line.msg === 'request' && line.url === '/reports/relayed')?.ip, '127.0.0.1');
});

if (!TEST_DATABASE_URL || !TEST_REDIS_URL) {
  test('proxy rate limits across two instances skipped: they need GATEHOUSE_TEST_DATABASE_URL and GATEHOUSE_TEST_REDIS_URL', (t) => {
    t.pass();
  });
} else {
  test(`[${backendName}] two instances sharing Redis share a route's rate limit`, async (t) => {
    const fake = await FakeUpstream.start();
    const config = { plugins: { proxy: { routes: [routeConfig({ upstreams: [fake.url], rateLimit: { max: 3, windowMs: 60_000, by: 'user' } })] } } };
    const a = await startTestApp({ config });
    const b = await startTestApp({ config, joining: a });
    t.teardown(async () => {
      await b.close();
      await a.close();
      await fake.close();
    });
    const { plaintext } = await userWithToken(a, ['read_api']);
    t.is((await a.request('/reports/1', { token: plaintext })).status, 200);
    t.is((await b.request('/reports/2', { token: plaintext })).status, 200);
    t.is((await a.request('/reports/3', { token: plaintext })).status, 200);
    const limited = await b.request('/reports/4', { token: plaintext });
    t.is(limited.status, 429);
    t.deepEqual(limited.body, RATE_LIMITED);
    t.is((await a.request('/reports/5', { token: plaintext })).status, 429);
    t.is(fake.received.length, 3);
  });
}
