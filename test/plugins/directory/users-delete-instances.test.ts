import test from 'ava';
import { startTestApp, ROOT_TOKEN, TEST_DATABASE_URL, TEST_REDIS_URL, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { makeEd25519Key } from '../../helpers/ssh-keys.js';
import { shellHeaders } from '../../helpers/shell.js';

/**
 * A user deleted through one instance, seen by another on the same PostgreSQL and Redis: its token
 * and its SSH key stop working there without waiting for a cache to expire.
 */

/** Polls until the request answers `status`; pub/sub delivery takes a round trip to Redis. */
async function eventually(request: () => Promise<{ status: number }>, status: number) {
  for (let attempt = 0; attempt < 50; attempt++) {
    if ((await request()).status === status) return status;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return (await request()).status;
}

if (!TEST_DATABASE_URL || !TEST_REDIS_URL) {
  test('multi-instance user deletion tests skipped: they need GATEHOUSE_TEST_DATABASE_URL and GATEHOUSE_TEST_REDIS_URL', (t) => {
    t.pass();
  });
} else {
  let a: TestApp;
  let b: TestApp;
  test.before(async () => {
    // Long TTLs, so only the invalidation message can make instance B forget in time.
    const config = { plugins: { tokens: { principalCacheTtlMs: 3_600_000 }, directory: { readCacheTtlMs: 3_600_000 } } };
    a = await startTestApp({ config });
    b = await startTestApp({ config, joining: a });
  });
  test.after.always(async () => {
    await b?.close();
    await a?.close();
  });

  test('a user deleted on one instance loses their token and SSH key on the other at once', async (t) => {
    const { user, plaintext } = await createUserWithToken(a, ['api']);
    const key = makeEd25519Key();
    t.is((await a.request('/api/v4/user/keys', { method: 'POST', token: plaintext, body: { title: 'laptop', key: key.line } })).status, 201);
    const authorized = async () => b.request(`/api/v4/internal/authorized_keys?key=${encodeURIComponent(key.blob)}`, { headers: await shellHeaders(b) });
    // B has cached the token and the key.
    t.is((await b.request('/api/v4/user', { token: plaintext })).status, 200);
    t.is((await authorized()).status, 200);
    t.is((await b.request(`/api/v4/users/${user.id}`, { token: ROOT_TOKEN })).status, 200);

    t.is((await a.request(`/api/v4/users/${user.id}`, { method: 'DELETE', token: ROOT_TOKEN })).status, 204);

    t.is(await eventually(() => b.request('/api/v4/user', { token: plaintext }), 401), 401);
    t.is(await eventually(authorized, 404), 404);
    t.is(await eventually(() => b.request(`/api/v4/users/${user.id}`, { token: ROOT_TOKEN }), 404), 404);
  });
}
