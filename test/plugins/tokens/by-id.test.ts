import test from 'ava';
import { ROOT_TOKEN, startTestApp, type TestApp } from '../../helpers/app.js';
import {
  ALREADY_REVOKED,
  IN_A_WEEK,
  NOT_FOUND,
  NOT_PERMITTED_TO_REVOKE,
  NOW,
  RECORD_NOT_FOUND,
  UNAUTHORIZED,
  countTokens,
  grape,
  insufficientScope,
  tokenJson,
  tokenRow,
  userWithToken,
} from './_support.js';

const tokenPath = (id: number | string) => `/api/v4/personal_access_tokens/${id}`;
const MISSING = 987_654;

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

/** A second token of the same user, to act on the first with. */
async function ownerWithTwoTokens(scopes: string[] = ['api']) {
  const first = await userWithToken(app, scopes);
  const second = await app.services.tokens.tokens.create(first.user, { name: 'acting token', scopes: ['api'] });
  return { user: first.user, target: first.token, targetPlaintext: first.plaintext, acting: second.plaintext };
}

// --- GET /personal_access_tokens/:id ---------------------------------------------------------------

test('show: 401 without credentials, 403 insufficient_scope for read_repository, 400 for a non-integer id', async (t) => {
  const { token, plaintext } = await userWithToken(app, ['read_repository']);
  const none = await app.request(tokenPath(token.id));
  t.is(none.status, 401);
  t.deepEqual(none.body, UNAUTHORIZED);
  const scoped = await app.request(tokenPath(token.id), { token: plaintext });
  t.is(scoped.status, 403);
  t.deepEqual(scoped.body, insufficientScope('api read_api'));
  const invalid = await app.request(tokenPath('abc'), { token: ROOT_TOKEN });
  t.is(invalid.status, 400);
  t.deepEqual(invalid.body, grape('id is invalid'));
});

test('show: the owner gets the whole entity (read_api is enough), impersonation tokens included', async (t) => {
  const { user, token, plaintext } = await userWithToken(app, ['read_api']);
  const response = await app.request(tokenPath(token.id), { token: plaintext });
  t.is(response.status, 200);
  t.deepEqual(response.body, tokenJson({ id: token.id, user_id: user.id, scopes: ['read_api'], last_used_at: NOW }));
  const impersonation = (await app.services.tokens.tokens.create(user, { name: 'imp', scopes: ['api'], impersonation: true, description: 'why' })).token;
  const own = await app.request(tokenPath(impersonation.id), { token: plaintext });
  t.is(own.status, 200);
  t.deepEqual(own.body, tokenJson({ id: impersonation.id, user_id: user.id, name: 'imp', description: 'why' }));
});

test('show: a non-admin gets 401 for another user\'s token and for a missing one alike (trap 6)', async (t) => {
  const { plaintext } = await userWithToken(app);
  const other = await userWithToken(app);
  for (const id of [other.token.id, MISSING, 1]) {
    const response = await app.request(tokenPath(id), { token: plaintext });
    t.is(response.status, 401, String(id));
    t.deepEqual(response.body, UNAUTHORIZED, String(id));
  }
});

test('show: an admin sees anyone\'s token and gets 404 for a missing one', async (t) => {
  const other = await userWithToken(app, ['read_user'], { expiresAt: '2027-02-03' });
  const response = await app.request(tokenPath(other.token.id), { token: ROOT_TOKEN });
  t.is(response.status, 200);
  t.deepEqual(response.body, tokenJson({ id: other.token.id, user_id: other.user.id, scopes: ['read_user'], expires_at: '2027-02-03' }));
  const missing = await app.request(tokenPath(MISSING), { token: ROOT_TOKEN });
  t.is(missing.status, 404);
  t.deepEqual(missing.body, NOT_FOUND);
});

// --- DELETE /personal_access_tokens/:id ------------------------------------------------------------

test('revoke: 401 without credentials, 403 insufficient_scope for read_api and read_repository, 400 for a bad id', async (t) => {
  const { token } = await userWithToken(app);
  t.deepEqual((await app.request(tokenPath(token.id), { method: 'DELETE' })).body, UNAUTHORIZED);
  for (const scope of ['read_api', 'read_repository']) {
    const { plaintext } = await userWithToken(app, [scope]);
    const response = await app.request(tokenPath(token.id), { method: 'DELETE', token: plaintext });
    t.is(response.status, 403, scope);
    t.deepEqual(response.body, insufficientScope('api'), scope);
  }
  const invalid = await app.request(tokenPath('abc'), { method: 'DELETE', token: ROOT_TOKEN });
  t.is(invalid.status, 400);
  t.deepEqual(invalid.body, grape('id is invalid'));
  t.false((await tokenRow(app, token.id))!.revoked);
});

test('revoke: the owner gets 204 with an empty body; the row stays, revoked; repeating is still 204', async (t) => {
  const { user, target, acting } = await ownerWithTwoTokens();
  const response = await app.request(tokenPath(target.id), { method: 'DELETE', token: acting });
  t.is(response.status, 204);
  t.is(response.text, '');
  const row = (await tokenRow(app, target.id))!;
  t.like(row, { id: target.id, user_id: user.id, revoked: true, updated_at: NOW });
  // Clients send DELETE with `{}` (gitbeaker) or an empty JSON body (python-gitlab).
  const again = await app.request(tokenPath(target.id), { method: 'DELETE', token: acting, body: {} });
  t.is(again.status, 204);
  const empty = await app.request(tokenPath(target.id), { method: 'DELETE', token: acting, headers: { 'Content-Type': 'application/json' } });
  t.is(empty.status, 204);
  t.true((await tokenRow(app, target.id))!.revoked);
});

test('revoke: someone else\'s token is 400 "Not permitted to revoke" for a non-admin, 204 for an admin', async (t) => {
  const { plaintext } = await userWithToken(app);
  const other = await userWithToken(app);
  const refused = await app.request(tokenPath(other.token.id), { method: 'DELETE', token: plaintext });
  t.is(refused.status, 400);
  t.deepEqual(refused.body, NOT_PERMITTED_TO_REVOKE);
  t.false((await tokenRow(app, other.token.id))!.revoked);

  const admin = await app.request(tokenPath(other.token.id), { method: 'DELETE', token: ROOT_TOKEN });
  t.is(admin.status, 204);
  t.true((await tokenRow(app, other.token.id))!.revoked);
});

test('revoke: a non-admin may not revoke their own impersonation token', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  const impersonation = (await app.services.tokens.tokens.create(user, { name: 'imp', scopes: ['api'], impersonation: true })).token;
  const response = await app.request(tokenPath(impersonation.id), { method: 'DELETE', token: plaintext });
  t.is(response.status, 400);
  t.deepEqual(response.body, NOT_PERMITTED_TO_REVOKE);
  t.false((await tokenRow(app, impersonation.id))!.revoked);
});

test('revoke: a missing token is 404 "Not found" (lower-case, RecordNotFound) for everyone', async (t) => {
  const { plaintext } = await userWithToken(app);
  for (const token of [plaintext, ROOT_TOKEN]) {
    const response = await app.request(tokenPath(MISSING), { method: 'DELETE', token });
    t.is(response.status, 404);
    t.deepEqual(response.body, RECORD_NOT_FOUND);
  }
});

// --- POST /personal_access_tokens/:id/rotate -------------------------------------------------------

test('rotate: 401 without credentials, 403 for read_api, 400 for a bad id or expires_at', async (t) => {
  const { target, user } = await ownerWithTwoTokens();
  const readOnly = (await app.services.tokens.tokens.create(user, { name: 'ro', scopes: ['read_api'] })).plaintext;
  t.deepEqual((await app.request(`${tokenPath(target.id)}/rotate`, { method: 'POST' })).body, UNAUTHORIZED);
  const scoped = await app.request(`${tokenPath(target.id)}/rotate`, { method: 'POST', token: readOnly });
  t.is(scoped.status, 403);
  t.deepEqual(scoped.body, insufficientScope('api'));
  const badId = await app.request(`${tokenPath('abc')}/rotate`, { method: 'POST', token: ROOT_TOKEN });
  t.deepEqual([badId.status, badId.body], [400, grape('id is invalid')]);
  const badDate = await app.request(`${tokenPath(target.id)}/rotate`, { method: 'POST', token: ROOT_TOKEN, body: { expires_at: 'soon' } });
  t.deepEqual([badDate.status, badDate.body], [400, grape('expires_at is invalid')]);
  t.false((await tokenRow(app, target.id))!.revoked);
});

test('rotate: 200 with the successor and its secret, expiring in a week; the old token is revoked and linked', async (t) => {
  const { user, target, acting } = await ownerWithTwoTokens(['api', 'read_user']);
  const before = await countTokens(app, { user_id: user.id });
  const response = await app.request(`${tokenPath(target.id)}/rotate`, { method: 'POST', token: acting });
  t.is(response.status, 200);
  const { token: plaintext, id, ...entity } = response.body;
  t.regex(plaintext, /^glpat-/);
  t.not(id, target.id);
  t.deepEqual({ id, ...entity }, tokenJson({ id, user_id: user.id, scopes: ['api', 'read_user'], expires_at: IN_A_WEEK }));

  const [old, successor] = [await tokenRow(app, target.id), await tokenRow(app, id)];
  t.true(old!.revoked);
  t.like(successor!, { revoked: false, previous_personal_access_token_id: target.id, name: 'test token', expires_at: IN_A_WEEK, user_id: user.id });
  t.not(successor!.token_digest, plaintext);
  t.false(successor!.token_digest.includes(plaintext));
  t.is(await countTokens(app, { user_id: user.id }), before + 1);
  t.is((await app.request('/api/v4/personal_access_tokens/self', { token: plaintext })).body.id, id);
});

test('rotate: expires_at as a date, an RFC 3339 datetime or a form field', async (t) => {
  for (const [body, form] of [
    [{ expires_at: '2027-01-01' }, undefined],
    [{ expires_at: '2027-01-01T00:00:00Z' }, undefined],
    [undefined, { expires_at: '2027-01-01' }],
  ] as const) {
    const { target, acting } = await ownerWithTwoTokens();
    const response = await app.request(`${tokenPath(target.id)}/rotate`, { method: 'POST', token: acting, body, form });
    t.is(response.status, 200);
    t.is(response.body.expires_at, '2027-01-01');
  }
});

test('rotate: an expiry past the limit is 400 and leaves the old token alone', async (t) => {
  const { user, target, acting } = await ownerWithTwoTokens();
  const before = await countTokens(app, { user_id: user.id });
  const response = await app.request(`${tokenPath(target.id)}/rotate`, { method: 'POST', token: acting, body: { expires_at: '2027-11-23' } });
  t.is(response.status, 400);
  t.deepEqual(response.body, { message: '400 Bad request - Expires at must be before 2027-11-22' });
  t.false((await tokenRow(app, target.id))!.revoked);
  t.is(await countTokens(app, { user_id: user.id }), before);
  // The limit itself is allowed.
  const atLimit = await app.request(`${tokenPath(target.id)}/rotate`, { method: 'POST', token: acting, body: { expires_at: '2027-11-22' } });
  t.is(atLimit.status, 200);
});

test('rotate: an already revoked token is 400 "Token already revoked" and gets no successor', async (t) => {
  const { user, target, acting } = await ownerWithTwoTokens();
  await app.services.tokens.tokens.revoke(target);
  const before = await countTokens(app, { user_id: user.id });
  const response = await app.request(`${tokenPath(target.id)}/rotate`, { method: 'POST', token: acting });
  t.is(response.status, 400);
  t.deepEqual(response.body, ALREADY_REVOKED);
  t.is(await countTokens(app, { user_id: user.id }), before);
  t.is(await countTokens(app, { previous_personal_access_token_id: target.id }), 0);
});

test('rotate: a non-admin gets 401 for another user\'s or a missing token; an admin 404 for missing, 200 for anyone\'s', async (t) => {
  const { plaintext } = await userWithToken(app);
  const other = await userWithToken(app, ['read_user']);
  for (const id of [other.token.id, MISSING]) {
    const response = await app.request(`${tokenPath(id)}/rotate`, { method: 'POST', token: plaintext });
    t.is(response.status, 401);
    t.deepEqual(response.body, UNAUTHORIZED);
  }
  t.false((await tokenRow(app, other.token.id))!.revoked);
  const missing = await app.request(`${tokenPath(MISSING)}/rotate`, { method: 'POST', token: ROOT_TOKEN });
  t.is(missing.status, 404);
  t.deepEqual(missing.body, NOT_FOUND);
  const admin = await app.request(`${tokenPath(other.token.id)}/rotate`, { method: 'POST', token: ROOT_TOKEN });
  t.is(admin.status, 200);
  t.like(admin.body, { user_id: other.user.id, scopes: ['read_user'], expires_at: IN_A_WEEK });
});
