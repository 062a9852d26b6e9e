import test from 'ava';
import { ROOT_TOKEN, startTestApp, type TestApp } from '../../helpers/app.js';
import {
  FORBIDDEN,
  IMPERSONATION_TOKEN_NOT_FOUND,
  IN_A_YEAR,
  NOW,
  PRECONDITION_FAILED,
  UNAUTHORIZED,
  USER_NOT_FOUND,
  countTokens,
  grape,
  insufficientScope,
  tokenJson,
  tokenRow,
  userWithToken,
} from './_support.js';

const tokensOf = (userId: number | string) => `/api/v4/users/${userId}/impersonation_tokens`;
const tokenOf = (userId: number | string, id: number | string) => `${tokensOf(userId)}/${id}`;
const impersonationJson = (fields: Parameters<typeof tokenJson>[0]) => ({ ...tokenJson(fields), impersonation: true });
const HOUR = 3_600_000;

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

/** A user with a PAT, an active, a revoked and an expired impersonation token. */
async function userWithImpersonationTokens() {
  const { user, token: pat, plaintext } = await userWithToken(app);
  const tokens = app.services.tokens.tokens;
  const active = (await tokens.create(user, { name: 'active', scopes: ['api'], impersonation: true, expiresAt: '2027-01-01' })).token;
  const revoked = (await tokens.create(user, { name: 'revoked', scopes: ['read_user'], impersonation: true })).token;
  await tokens.revoke(revoked);
  const expired = (await tokens.create(user, { name: 'expired', scopes: ['api'], impersonation: true, expiresAt: '2026-10-01' })).token;
  return { user, pat, plaintext, active, revoked: { ...revoked, revoked: true }, expired };
}

/**
 * The matrix every impersonation route shares: 401 without credentials, 403 for non-admins (before any
 * lookup, so also for an unknown user), 403 insufficient_scope for an admin token without api (or
 * read_api on GET).
 */
async function assertAdminOnly(t: import('ava').ExecutionContext, method: string, path: (userId: number) => string, body?: unknown) {
  const { user, plaintext } = await userWithToken(app);
  const none = await app.request(path(user.id), { method, body });
  t.deepEqual([none.status, none.body], [401, UNAUTHORIZED]);
  for (const userId of [user.id, 99_999]) {
    const nonAdmin = await app.request(path(userId), { method, token: plaintext, body });
    t.deepEqual([nonAdmin.status, nonAdmin.body], [403, FORBIDDEN]);
  }
  const admin = await userWithToken(app, [method === 'GET' ? 'read_repository' : 'read_api'], { admin: true });
  const scoped = await app.request(path(user.id), { method, token: admin.plaintext, body });
  t.deepEqual([scoped.status, scoped.body], [403, insufficientScope(method === 'GET' ? 'api read_api' : 'api')]);
}

// --- GET /users/:user_id/impersonation_tokens ------------------------------------------------------

test('list: 401, 403 for non-admins (before the user lookup), 403 insufficient_scope, 400, 404', async (t) => {
  await assertAdminOnly(t, 'GET', tokensOf);
  const badState = await app.request(`${tokensOf(1)}?state=revoked`, { token: ROOT_TOKEN });
  t.deepEqual([badState.status, badState.body], [400, grape('state does not have a valid value')]);
  const badUser = await app.request(tokensOf('abc'), { token: ROOT_TOKEN });
  t.deepEqual([badUser.status, badUser.body], [400, grape('user_id is invalid')]);
  const unknown = await app.request(tokensOf(99_999), { token: ROOT_TOKEN });
  t.deepEqual([unknown.status, unknown.body], [404, USER_NOT_FOUND]);
});

test('list: every impersonation token of the user by default (state=all), none of their PATs, with pagination headers', async (t) => {
  const { user, active, revoked, expired } = await userWithImpersonationTokens();
  const response = await app.request(tokensOf(user.id), { token: ROOT_TOKEN });
  t.is(response.status, 200);
  t.deepEqual(response.body, [
    impersonationJson({ id: active.id, user_id: user.id, name: 'active', expires_at: '2027-01-01' }),
    impersonationJson({ id: revoked.id, user_id: user.id, name: 'revoked', scopes: ['read_user'], revoked: true, active: false }),
    impersonationJson({ id: expired.id, user_id: user.id, name: 'expired', active: false, expires_at: '2026-10-01' }),
  ]);
  t.is(response.headers.get('x-total'), '3');
  t.is(response.headers.get('x-page'), '1');
  t.is(response.headers.get('x-per-page'), '20');
  t.is(response.headers.get('x-total-pages'), '1');
  const base = `http://gatehouse.test/api/v4/users/${user.id}/impersonation_tokens`;
  t.is(response.headers.get('link'), `<${base}?page=1&per_page=20>; rel="first", <${base}?page=1&per_page=20>; rel="last"`);
  t.deepEqual((await app.request(`${tokensOf(user.id)}?state=all`, { token: ROOT_TOKEN })).body, response.body);
});

test('list: state=active and state=inactive; pages', async (t) => {
  const { user, active, revoked, expired } = await userWithImpersonationTokens();
  const ids = async (query: string) => (await app.request(`${tokensOf(user.id)}?${query}`, { token: ROOT_TOKEN })).body.map((x: { id: number }) => x.id);
  t.deepEqual(await ids('state=active'), [active.id]);
  t.deepEqual(await ids('state=inactive'), [revoked.id, expired.id]);
  t.deepEqual(await ids('per_page=2&page=2'), [expired.id]);
});

// --- POST /users/:user_id/impersonation_tokens -----------------------------------------------------

test('create: 401, 403 for non-admins, 403 insufficient_scope for a read_api admin; nothing stored', async (t) => {
  await assertAdminOnly(t, 'POST', tokensOf, { name: 'refused', scopes: ['api'] });
  t.is(await countTokens(app, { name: 'refused' }), 0);
});

test('create: Grape 400s, then 404 for an unknown user', async (t) => {
  const { user } = await userWithToken(app);
  const cases: Array<[string, unknown, string]> = [
    [tokensOf(user.id), {}, 'name is missing'],
    [tokensOf(user.id), { scopes: ['api'], expires_at: 'later' }, 'name is missing, expires_at is invalid'],
    [tokensOf(user.id), { name: 'x', scopes: ['api'], granular_scopes: [{}] }, 'scopes, granular_scopes are mutually exclusive'],
    [tokensOf('me'), { name: 'x', scopes: ['api'] }, 'user_id is invalid'],
  ];
  for (const [path, body, message] of cases) {
    const response = await app.request(path, { method: 'POST', token: ROOT_TOKEN, body });
    t.deepEqual([response.status, response.body], [400, grape(message)], message);
  }
  const unknown = await app.request(tokensOf(99_999), { method: 'POST', token: ROOT_TOKEN, body: { name: 'x', scopes: ['api'] } });
  t.deepEqual([unknown.status, unknown.body], [404, USER_NOT_FOUND]);
  t.is(await countTokens(app, { user_id: user.id }), 1);
});

test('create: model errors are 400 {"message":{attribute:[…]}}', async (t) => {
  const { user } = await userWithToken(app);
  const cases: Array<[unknown, Record<string, string[]>]> = [
    [{ name: 'x' }, { scopes: ["can't be blank"] }],
    [{ name: 'x', scopes: [] }, { scopes: ["can't be blank"] }],
    [{ name: 'x', granular_scopes: [{ permissions: ['read_issue'] }] }, { scopes: ["can't be blank"] }],
    [{ name: 'x', scopes: ['api'], expires_at: '2027-12-01' }, { expires_at: ['must be before 2027-11-22'] }],
    [{ name: 'x', scopes: ['api', 'everything'] }, { scopes: ['can only contain available scopes'] }],
    [{ name: 'x', scopes: ['sudo'] }, { sudo: ['can only be enabled for administrators'] }],
    [{ name: '', scopes: 'nope', expires_at: '2099-01-01' }, { name: ["can't be blank"], scopes: ['can only contain available scopes'], expires_at: ['must be before 2027-11-22'] }],
  ];
  for (const [body, fields] of cases) {
    const response = await app.request(tokensOf(user.id), { method: 'POST', token: ROOT_TOKEN, body });
    t.is(response.status, 400, JSON.stringify(body));
    t.deepEqual(response.body, { message: fields }, JSON.stringify(body));
  }
  t.is(await countTokens(app, { user_id: user.id }), 1);
});

test('create: 201 with impersonation:true and the token, which acts as the user', async (t) => {
  const { user } = await userWithToken(app);
  const response = await app.request(tokensOf(user.id), {
    method: 'POST',
    token: ROOT_TOKEN,
    body: { name: 'support', scopes: 'api, read_user', description: 'ticket 42', expires_at: '2027-01-31T00:00:00Z' },
  });
  t.is(response.status, 201);
  const { token: plaintext, ...entity } = response.body;
  t.regex(plaintext, /^glpat-/);
  t.deepEqual(entity, impersonationJson({ id: entity.id, user_id: user.id, name: 'support', scopes: ['api', 'read_user'], description: 'ticket 42', expires_at: '2027-01-31' }));
  const row = (await tokenRow(app, entity.id))!;
  t.like(row, { user_id: user.id, impersonation: true, revoked: false, expires_at: '2027-01-31', created_at: NOW });
  t.not(row.token_digest, plaintext);
  const me = await app.request('/api/v4/user', { token: plaintext });
  t.is(me.status, 200);
  t.is(me.body.id, user.id);
});

test('create: a past expires_at is accepted (active:false); a missing one defaults to a year', async (t) => {
  const { user } = await userWithToken(app);
  const past = await app.request(tokensOf(user.id), { method: 'POST', token: ROOT_TOKEN, form: { name: 'old', 'scopes[]': ['api'], expires_at: '2025-05-05' } });
  t.is(past.status, 201);
  t.like(past.body, { active: false, expires_at: '2025-05-05', impersonation: true });
  const defaulted = await app.request(tokensOf(user.id), { method: 'POST', token: ROOT_TOKEN, body: { name: 'new', scopes: ['api'] } });
  t.is(defaulted.status, 201);
  t.like(defaulted.body, { active: true, expires_at: IN_A_YEAR });
});

// --- GET /users/:user_id/impersonation_tokens/:impersonation_token_id ------------------------------

test('show: 401, 403, 400; 404 for an unknown user, an unknown id, a PAT\'s id or another user\'s token', async (t) => {
  const { user, pat, active } = await userWithImpersonationTokens();
  const other = await userWithImpersonationTokens();
  await assertAdminOnly(t, 'GET', (userId) => tokenOf(userId, active.id));
  const invalid = await app.request(tokenOf(user.id, 'x'), { token: ROOT_TOKEN });
  t.deepEqual([invalid.status, invalid.body], [400, grape('impersonation_token_id is invalid')]);
  const unknownUser = await app.request(tokenOf(99_999, active.id), { token: ROOT_TOKEN });
  t.deepEqual([unknownUser.status, unknownUser.body], [404, USER_NOT_FOUND]);
  for (const id of [99_999, pat.id, other.active.id]) {
    const response = await app.request(tokenOf(user.id, id), { token: ROOT_TOKEN });
    t.deepEqual([response.status, response.body], [404, IMPERSONATION_TOKEN_NOT_FOUND], String(id));
  }
});

test('show: 200 with the entity and no secret', async (t) => {
  const { user, revoked } = await userWithImpersonationTokens();
  const response = await app.request(tokenOf(user.id, revoked.id), { token: ROOT_TOKEN });
  t.is(response.status, 200);
  t.deepEqual(response.body, impersonationJson({ id: revoked.id, user_id: user.id, name: 'revoked', scopes: ['read_user'], revoked: true, active: false }));
});

// --- DELETE /users/:user_id/impersonation_tokens/:impersonation_token_id ---------------------------

test('revoke: 401, 403, 400 and the 404s', async (t) => {
  const { user, pat, active } = await userWithImpersonationTokens();
  await assertAdminOnly(t, 'DELETE', (userId) => tokenOf(userId, active.id));
  const invalid = await app.request(tokenOf(user.id, '1.5'), { method: 'DELETE', token: ROOT_TOKEN });
  t.deepEqual([invalid.status, invalid.body], [400, grape('impersonation_token_id is invalid')]);
  const unknownUser = await app.request(tokenOf(99_999, active.id), { method: 'DELETE', token: ROOT_TOKEN });
  t.deepEqual([unknownUser.status, unknownUser.body], [404, USER_NOT_FOUND]);
  for (const id of [99_999, pat.id]) {
    const response = await app.request(tokenOf(user.id, id), { method: 'DELETE', token: ROOT_TOKEN });
    t.deepEqual([response.status, response.body], [404, IMPERSONATION_TOKEN_NOT_FOUND]);
  }
  t.false((await tokenRow(app, active.id))!.revoked);
  t.false((await tokenRow(app, pat.id))!.revoked);
});

test('revoke: 204 and the token is revoked, not deleted; it stops authenticating at once', async (t) => {
  const { user } = await userWithToken(app);
  const created = await app.services.tokens.tokens.create(user, { name: 'imp', scopes: ['api'], impersonation: true });
  t.is((await app.request('/api/v4/user', { token: created.plaintext })).status, 200);
  const response = await app.request(tokenOf(user.id, created.token.id), { method: 'DELETE', token: ROOT_TOKEN });
  t.is(response.status, 204);
  t.is(response.text, '');
  t.like((await tokenRow(app, created.token.id))!, { revoked: true, impersonation: true });
  const listed = await app.request(`${tokensOf(user.id)}?state=inactive`, { token: ROOT_TOKEN });
  t.deepEqual(listed.body.map((x: { id: number }) => x.id), [created.token.id]);
  t.is((await app.request('/api/v4/user', { token: created.plaintext })).status, 401);
});

test('revoke: If-Unmodified-Since older than the token\'s last change is 412; the current time is fine', async (t) => {
  const own = await startTestApp();
  t.teardown(() => own.close());
  const { user } = await userWithToken(own);
  own.clock.advance(HOUR + 500);
  const created = await own.services.tokens.tokens.create(user, { name: 'imp', scopes: ['api'], impersonation: true });
  const path = tokenOf(user.id, created.token.id);

  const stale = await own.request(path, { method: 'DELETE', token: ROOT_TOKEN, headers: { 'If-Unmodified-Since': new Date(NOW).toUTCString() } });
  t.is(stale.status, 412);
  t.deepEqual(stale.body, PRECONDITION_FAILED);
  t.false((await tokenRow(own, created.token.id))!.revoked);

  // Same second as the token's change (11:00:00.500 vs an HTTP date of 11:00:00): not modified since.
  const current = await own.request(path, { method: 'DELETE', token: ROOT_TOKEN, headers: { 'If-Unmodified-Since': own.clock.now().toUTCString() } });
  t.is(current.status, 204);
  t.true((await tokenRow(own, created.token.id))!.revoked);
});
