import test from 'ava';
import { ROOT_TOKEN, TestClock, startTestApp, type TestApp } from '../../helpers/app.js';
import {
  EXPIRED,
  EXPIRED_DESCRIPTION,
  NOW,
  REVOKED,
  REVOKED_DESCRIPTION,
  UNAUTHORIZED,
  challenge,
  insufficientScope,
  tokenRow,
  userWithToken,
} from './_support.js';

const SELF = '/api/v4/personal_access_tokens/self';
const BLOCKED = { message: '403 Forbidden - Your account has been blocked.' };

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

/** An app of its own, for tests that move the clock or change config. */
async function ownApp(t: { teardown(fn: () => Promise<void>): void }, options: Parameters<typeof startTestApp>[0] = {}) {
  const own = await startTestApp({ clock: new TestClock(), ...options });
  t.teardown(() => own.close());
  return own;
}

const isCached = (target: TestApp, plaintext: string) => {
  const service = target.services.tokens.tokens;
  return service.cache.peek(service.digest(plaintext)) !== undefined;
};

test('PRIVATE-TOKEN header, private_token param and Authorization: Bearer all authenticate', async (t) => {
  const { user, token, plaintext } = await userWithToken(app, ['read_api']);
  for (const auth of ['private-token', 'param', 'bearer'] as const) {
    const response = await app.request(SELF, { token: plaintext, auth });
    t.is(response.status, 200, auth);
    t.is(response.body.id, token.id, auth);
    t.is(response.body.user_id, user.id, auth);
  }
});

test('the private_token param wins over the PRIVATE-TOKEN header', async (t) => {
  const first = await userWithToken(app);
  const second = await userWithToken(app);
  const both = await app.request(`${SELF}?private_token=${first.plaintext}`, { headers: { 'PRIVATE-TOKEN': second.plaintext } });
  t.is(both.status, 200);
  t.is(both.body.id, first.token.id);
  // The param is used even when it is wrong and the header is right.
  const wrongParam = await app.request(`${SELF}?private_token=glpat-nope`, { headers: { 'PRIVATE-TOKEN': second.plaintext } });
  t.is(wrongParam.status, 401);
  t.deepEqual(wrongParam.body, UNAUTHORIZED);
});

test('no credentials and unknown tokens are 401 {"message":"401 Unauthorized"} without a challenge', async (t) => {
  const none = await app.request(SELF);
  t.is(none.status, 401);
  t.deepEqual(none.body, UNAUTHORIZED);
  for (const auth of ['private-token', 'param', 'bearer'] as const) {
    const unknown = await app.request(SELF, { token: 'glpat-does-not-exist', auth });
    t.is(unknown.status, 401, auth);
    t.deepEqual(unknown.body, UNAUTHORIZED, auth);
    t.is(unknown.headers.get('www-authenticate'), null, auth);
  }
});

test('an expired token is 401 invalid_token with the exact WWW-Authenticate challenge', async (t) => {
  const own = await ownApp(t);
  const { plaintext } = await userWithToken(own, ['api'], { expiresAt: '2026-11-25' });
  t.is((await own.request(SELF, { token: plaintext })).status, 200);
  // The token expires at the start of its expiry day (UTC).
  own.clock.set('2026-11-24T23:59:59.000Z');
  t.is((await own.request(SELF, { token: plaintext })).status, 200);
  own.clock.set('2026-11-25T00:00:00.000Z');
  const response = await own.request(SELF, { token: plaintext });
  t.is(response.status, 401);
  t.deepEqual(response.body, EXPIRED);
  t.is(response.headers.get('www-authenticate'), challenge(EXPIRED_DESCRIPTION));
});

test('a token expiring today is already expired (trap 8)', async (t) => {
  const { plaintext } = await userWithToken(app, ['api'], { expiresAt: '2026-11-22' });
  const response = await app.request(SELF, { token: plaintext, auth: 'bearer' });
  t.is(response.status, 401);
  t.deepEqual(response.body, EXPIRED);
  t.is(response.headers.get('www-authenticate'), challenge(EXPIRED_DESCRIPTION));
});

test('a revoked token is 401 invalid_token "Token was revoked"', async (t) => {
  const { token, plaintext } = await userWithToken(app);
  await app.services.tokens.tokens.revoke(token);
  const response = await app.request(SELF, { token: plaintext });
  t.is(response.status, 401);
  t.deepEqual(response.body, REVOKED);
  t.is(response.headers.get('www-authenticate'), challenge(REVOKED_DESCRIPTION));
});

test('expiry is checked before revocation, as GitLab\'s token validation does', async (t) => {
  const { token, plaintext } = await userWithToken(app, ['api'], { expiresAt: '2026-01-01' });
  await app.services.tokens.tokens.revoke(token);
  const response = await app.request(SELF, { token: plaintext });
  t.is(response.status, 401);
  t.deepEqual(response.body, EXPIRED);
});

test('a blocked user is refused with 403 on the very next request, a deactivated one too', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  t.is((await app.request(SELF, { token: plaintext })).status, 200);
  t.true(isCached(app, plaintext), 'the first request cached the principal');

  await app.services.directory.users.setState(user, 'blocked');
  const blocked = await app.request(SELF, { token: plaintext });
  t.is(blocked.status, 403);
  t.deepEqual(blocked.body, BLOCKED);

  await app.services.directory.users.setState(user, 'deactivated');
  const deactivated = await app.request(SELF, { token: plaintext });
  t.is(deactivated.status, 403);
  t.deepEqual(deactivated.body, {
    message:
      '403 Forbidden - Your account has been deactivated by your administrator. Please log back in from a web browser to reactivate your account at http://gatehouse.test',
  });

  await app.services.directory.users.setState(user, 'active');
  t.is((await app.request(SELF, { token: plaintext })).status, 200);
});

test('token errors come before the blocked check; a blocked user\'s token with the wrong scope is 403 insufficient_scope', async (t) => {
  const { user, plaintext } = await userWithToken(app, ['read_api']);
  await app.services.directory.users.setState(user, 'blocked');
  const response = await app.request('/api/v4/user/personal_access_tokens', {
    method: 'POST',
    token: plaintext,
    body: { name: 'x', scopes: ['k8s_proxy'] },
  });
  t.is(response.status, 403);
  t.deepEqual(response.body, insufficientScope('api'));
});

test('a read_api token may GET but not POST: 403 insufficient_scope without a challenge', async (t) => {
  const { plaintext } = await userWithToken(app, ['read_api']);
  t.is((await app.request('/api/v4/personal_access_tokens', { token: plaintext })).status, 200);
  const response = await app.request('/api/v4/user/personal_access_tokens', {
    method: 'POST',
    token: plaintext,
    body: { name: 'x', scopes: ['k8s_proxy'] },
  });
  t.is(response.status, 403);
  t.deepEqual(response.body, insufficientScope('api'));
  t.is(response.headers.get('www-authenticate'), null);
});

test('Sudo from a non-admin is 403 "Must be admin to use sudo"', async (t) => {
  const { plaintext } = await userWithToken(app, ['api']);
  const target = await userWithToken(app);
  for (const request of [
    { headers: { Sudo: target.user.username } },
    { path: `/api/v4/user?sudo=${target.user.id}` },
  ]) {
    const response = await app.request(request.path ?? '/api/v4/user', { token: plaintext, headers: request.headers });
    t.is(response.status, 403);
    t.deepEqual(response.body, { message: '403 Forbidden - Must be admin to use sudo' });
  }
});

test('Sudo from an admin token without the sudo scope is 403 insufficient_scope', async (t) => {
  const admin = await userWithToken(app, ['api'], { admin: true });
  const target = await userWithToken(app);
  const response = await app.request('/api/v4/user', { token: admin.plaintext, headers: { Sudo: target.user.username } });
  t.is(response.status, 403);
  t.deepEqual(response.body, insufficientScope('sudo'));
});

test('Sudo naming nobody is 404 with GitLab\'s message', async (t) => {
  const response = await app.request('/api/v4/user', { token: ROOT_TOKEN, headers: { Sudo: 'nobody' } });
  t.is(response.status, 404);
  t.deepEqual(response.body, { message: "404 User with ID or username 'nobody' Not Found" });
});

test('Sudo by username (header) or id (param) acts as the target user', async (t) => {
  const target = await userWithToken(app);
  const byHeader = await app.request('/api/v4/user', { token: ROOT_TOKEN, headers: { Sudo: target.user.username } });
  t.is(byHeader.status, 200);
  t.is(byHeader.body.id, target.user.id);
  t.is(byHeader.body.username, target.user.username);
  const byParam = await app.request(`/api/v4/user?sudo=${target.user.id}`, { token: ROOT_TOKEN });
  t.is(byParam.status, 200);
  t.is(byParam.body.id, target.user.id);
  // Acting as a non-admin, the admin's token lists only the target's tokens.
  const listed = await app.request('/api/v4/personal_access_tokens', { token: ROOT_TOKEN, headers: { Sudo: target.user.username } });
  t.is(listed.status, 200);
  t.deepEqual(listed.body.map((token: { id: number }) => token.id), [target.token.id]);
});

test('cache: a token revoked through DELETE is refused on the very next request', async (t) => {
  const { user, token, plaintext } = await userWithToken(app);
  const other = await app.services.tokens.tokens.create(user, { name: 'second', scopes: ['api'] });
  t.is((await app.request(SELF, { token: plaintext })).status, 200);
  t.true(isCached(app, plaintext));

  const deleted = await app.request(`/api/v4/personal_access_tokens/${token.id}`, { method: 'DELETE', token: other.plaintext });
  t.is(deleted.status, 204);
  const next = await app.request(SELF, { token: plaintext });
  t.is(next.status, 401);
  t.deepEqual(next.body, REVOKED);
});

test('cache: a token rotated by id is refused on the very next request', async (t) => {
  const { user, token, plaintext } = await userWithToken(app);
  const other = await app.services.tokens.tokens.create(user, { name: 'second', scopes: ['api'] });
  t.is((await app.request(SELF, { token: plaintext })).status, 200);
  t.true(isCached(app, plaintext));

  const rotated = await app.request(`/api/v4/personal_access_tokens/${token.id}/rotate`, { method: 'POST', token: other.plaintext });
  t.is(rotated.status, 200);
  t.is((await app.request(SELF, { token: rotated.body.token })).status, 200);
  const next = await app.request(SELF, { token: plaintext });
  t.is(next.status, 401);
  t.deepEqual(next.body, REVOKED);
});

test('cache: a user blocked after their token was cached is refused on the very next request', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  t.is((await app.request(SELF, { token: plaintext, auth: 'bearer' })).status, 200);
  t.true(isCached(app, plaintext));
  await app.services.directory.users.setState(user, 'blocked');
  const next = await app.request(SELF, { token: plaintext, auth: 'bearer' });
  t.is(next.status, 403);
  t.deepEqual(next.body, BLOCKED);
});

test('last_used_at is written at most once a minute', async (t) => {
  const own = await ownApp(t);
  const { token, plaintext } = await userWithToken(own);
  t.is((await tokenRow(own, token.id))!.last_used_at, null);

  t.is((await own.request(SELF, { token: plaintext })).status, 200);
  t.is((await tokenRow(own, token.id))!.last_used_at, NOW);

  own.clock.advance(30_000);
  const after30 = await own.request(SELF, { token: plaintext });
  t.is(after30.status, 200);
  t.is(after30.body.last_used_at, NOW);
  t.is((await tokenRow(own, token.id))!.last_used_at, NOW);

  own.clock.advance(31_000);
  const after61 = await own.request(SELF, { token: plaintext });
  t.is(after61.body.last_used_at, '2026-11-22T10:01:01.000Z');
  t.is((await tokenRow(own, token.id))!.last_used_at, '2026-11-22T10:01:01.000Z');
});

test('impersonation tokens are refused while impersonation is disabled', async (t) => {
  const own = await ownApp(t, { config: { plugins: { tokens: { impersonationEnabled: false } } } });
  const { user } = await userWithToken(own);
  const { plaintext } = await own.services.tokens.tokens.create(user, { name: 'imp', scopes: ['api'], impersonation: true });
  const description = 'Token is an impersonation token but impersonation was disabled.';
  const response = await own.request(SELF, { token: plaintext });
  t.is(response.status, 401);
  t.deepEqual(response.body, { error: 'invalid_token', error_description: description });
  t.is(response.headers.get('www-authenticate'), challenge(description));
});
