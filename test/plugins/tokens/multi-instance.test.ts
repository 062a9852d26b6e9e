import test from 'ava';
import { startTestApp, ROOT_TOKEN, TEST_DATABASE_URL, TEST_REDIS_URL, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';

/**
 * Two gateway instances on one PostgreSQL database and one Redis, as deployed behind a load balancer.
 * Each keeps resolved tokens in memory; revocation, rotation and user changes made through one must
 * reach the other's cache through Redis pub/sub, not wait for the cache TTL.
 */

/** Polls until the request answers `status`; pub/sub delivery takes a round trip to Redis. */
async function eventuallyStatus(app: TestApp, path: string, token: string, status: number) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const response = await app.request(path, { token });
    if (response.status === status) return response;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return app.request(path, { token });
}

if (!TEST_DATABASE_URL || !TEST_REDIS_URL) {
  test('multi-instance cache invalidation tests skipped: they need GATEHOUSE_TEST_DATABASE_URL and GATEHOUSE_TEST_REDIS_URL', (t) => {
    t.pass();
  });
} else {
  let a: TestApp;
  let b: TestApp;
  test.before(async () => {
    // A long TTL, so only the invalidation message can make instance B forget a token in time.
    const config = { plugins: { tokens: { principalCacheTtlMs: 3_600_000 } } };
    a = await startTestApp({ config });
    b = await startTestApp({ config, joining: a });
  });
  test.after.always(async () => {
    await b?.close();
    await a?.close();
  });

  test('a token revoked on one instance is refused by the other', async (t) => {
    const { token, plaintext } = await createUserWithToken(a, ['api']);
    t.is((await b.request('/api/v4/user', { token: plaintext })).status, 200, 'B has cached the token');
    t.is((await a.request(`/api/v4/personal_access_tokens/${token.id}`, { method: 'DELETE', token: ROOT_TOKEN })).status, 204);
    const refused = await eventuallyStatus(b, '/api/v4/user', plaintext, 401);
    t.is(refused.status, 401);
    t.is(refused.body.error_description, 'Token was revoked. You have to re-authorize from the user.');
  });

  test('a user blocked on one instance is refused by the other; unblocked, let in again', async (t) => {
    const { user, plaintext } = await createUserWithToken(a, ['api']);
    t.is((await b.request('/api/v4/user', { token: plaintext })).status, 200);
    t.is((await a.request(`/api/v4/users/${user.id}/block`, { method: 'POST', token: ROOT_TOKEN })).status, 201);
    const refused = await eventuallyStatus(b, '/api/v4/user', plaintext, 403);
    t.deepEqual(refused.body, { message: '403 Forbidden - Your account has been blocked.' });
    t.is((await a.request(`/api/v4/users/${user.id}/unblock`, { method: 'POST', token: ROOT_TOKEN })).status, 201);
    t.is((await eventuallyStatus(b, '/api/v4/user', plaintext, 200)).status, 200);
  });

  test('a token rotated on one instance is refused by the other, whose reuse then revokes the successor', async (t) => {
    const { token, plaintext } = await createUserWithToken(a, ['api']);
    t.is((await b.request('/api/v4/user', { token: plaintext })).status, 200);
    const rotated = await a.request(`/api/v4/personal_access_tokens/${token.id}/rotate`, { method: 'POST', token: ROOT_TOKEN });
    t.is(rotated.status, 200);
    t.is((await b.request('/api/v4/user', { token: rotated.body.token })).status, 200, 'the successor works on B');
    t.is((await eventuallyStatus(b, '/api/v4/user', plaintext, 401)).status, 401);
    // Presenting the rotated-away token is GitLab's sign of a leak: the chain is revoked, on A too.
    t.is((await eventuallyStatus(a, '/api/v4/user', rotated.body.token, 401)).status, 401);
  });

  test('directory changes made on one instance reach the other\'s read cache', async (t) => {
    const { plaintext } = await createUserWithToken(a, ['api']);
    const created = await a.request('/api/v4/projects', { method: 'POST', token: plaintext, body: { name: 'shared', path: 'shared' } });
    t.is(created.status, 201);
    const onB = () => b.services.directory.projects.findProjectById(created.body.id);
    t.is((await onB()).archived, false, 'B has cached the project');
    t.is((await a.request(`/api/v4/projects/${created.body.id}/archive`, { method: 'POST', token: plaintext })).status, 201);
    let archived = false;
    for (let attempt = 0; attempt < 50 && !archived; attempt++) {
      archived = (await onB()).archived;
      if (!archived) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    t.true(archived);
  });
}
