import test from 'ava';
import { ROOT_TOKEN, startTestApp, type TestApp } from '../../helpers/app.js';
import {
  IN_A_WEEK,
  NOT_PERMITTED_TO_REVOKE,
  NOW,
  REVOKED,
  UNAUTHORIZED,
  countTokens,
  grape,
  insufficientScope,
  tokenJson,
  tokenRow,
  userWithToken,
} from './_support.js';

const SELF = '/api/v4/personal_access_tokens/self';
const ROTATE_SELF = `${SELF}/rotate`;

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

// --- GET /personal_access_tokens/self --------------------------------------------------------------

test('self: 401 without credentials or with a revoked token', async (t) => {
  const none = await app.request(SELF);
  t.is(none.status, 401);
  t.deepEqual(none.body, UNAUTHORIZED);
  const { token, plaintext } = await userWithToken(app);
  await app.services.tokens.tokens.revoke(token);
  const revoked = await app.request(SELF, { token: plaintext });
  t.is(revoked.status, 401);
  t.deepEqual(revoked.body, REVOKED);
});

test('self: any scope may read its own token; the body is the entity without the secret', async (t) => {
  for (const scopes of [['read_repository'], ['k8s_proxy', 'self_rotate'], ['api']]) {
    const { user, token, plaintext } = await userWithToken(app, scopes);
    const response = await app.request(SELF, { token: plaintext, auth: 'bearer' });
    t.is(response.status, 200, scopes.join());
    t.deepEqual(response.body, tokenJson({ id: token.id, user_id: user.id, scopes, last_used_at: NOW }));
  }
});

test('trap 10: /self routes win over /:id ("self" is never an invalid id)', async (t) => {
  const { token, plaintext } = await userWithToken(app, ['api']);
  const shown = await app.request(SELF, { token: plaintext });
  t.is(shown.status, 200);
  t.is(shown.body.id, token.id);
  const rotated = await app.request(ROTATE_SELF, { method: 'POST', token: plaintext });
  t.is(rotated.status, 200);
  const deleted = await app.request(SELF, { method: 'DELETE', token: rotated.body.token });
  t.is(deleted.status, 204);
  // The same paths with a real id still reach the /:id routes.
  const byId = await app.request(`/api/v4/personal_access_tokens/${token.id}`, { token: ROOT_TOKEN });
  t.is(byId.status, 200);
  t.is(byId.body.id, token.id);
});

// --- DELETE /personal_access_tokens/self -----------------------------------------------------------

test('revoke self: 401 without credentials', async (t) => {
  const response = await app.request(SELF, { method: 'DELETE' });
  t.is(response.status, 401);
  t.deepEqual(response.body, UNAUTHORIZED);
});

test('revoke self: 204 with any scope; the next request with the token is 401 revoked', async (t) => {
  const { token, plaintext } = await userWithToken(app, ['read_repository']);
  t.is((await app.request(SELF, { token: plaintext })).status, 200);
  const response = await app.request(SELF, { method: 'DELETE', token: plaintext });
  t.is(response.status, 204);
  t.is(response.text, '');
  t.like((await tokenRow(app, token.id))!, { revoked: true, updated_at: NOW });
  const next = await app.request(SELF, { method: 'DELETE', token: plaintext });
  t.is(next.status, 401);
  t.deepEqual(next.body, REVOKED);
});

test('revoke self: a non-admin\'s impersonation token is 400 "Not permitted to revoke"; an admin\'s is revoked', async (t) => {
  const { user } = await userWithToken(app);
  const impersonation = await app.services.tokens.tokens.create(user, { name: 'imp', scopes: ['read_user'], impersonation: true });
  const refused = await app.request(SELF, { method: 'DELETE', token: impersonation.plaintext });
  t.is(refused.status, 400);
  t.deepEqual(refused.body, NOT_PERMITTED_TO_REVOKE);
  t.false((await tokenRow(app, impersonation.token.id))!.revoked);

  const admin = await userWithToken(app, ['api'], { admin: true });
  const adminImpersonation = await app.services.tokens.tokens.create(admin.user, { name: 'imp', scopes: ['read_user'], impersonation: true });
  t.is((await app.request(SELF, { method: 'DELETE', token: adminImpersonation.plaintext })).status, 204);
  t.true((await tokenRow(app, adminImpersonation.token.id))!.revoked);
});

// --- POST /personal_access_tokens/self/rotate ------------------------------------------------------

test('rotate self: 401 without credentials; scopes other than api/self_rotate are 403 insufficient_scope', async (t) => {
  const none = await app.request(ROTATE_SELF, { method: 'POST' });
  t.is(none.status, 401);
  t.deepEqual(none.body, UNAUTHORIZED);
  for (const scopes of [['read_api'], ['read_user', 'k8s_proxy'], ['read_repository']]) {
    const { token, plaintext } = await userWithToken(app, scopes);
    const response = await app.request(ROTATE_SELF, { method: 'POST', token: plaintext });
    t.is(response.status, 403, scopes.join());
    t.deepEqual(response.body, insufficientScope('api self_rotate'), scopes.join());
    t.false((await tokenRow(app, token.id))!.revoked);
  }
});

test('rotate self: 400 for a bad expires_at or one past the limit, nothing changed', async (t) => {
  const { user, token, plaintext } = await userWithToken(app, ['self_rotate']);
  const invalid = await app.request(ROTATE_SELF, { method: 'POST', token: plaintext, body: { expires_at: '2027-02-30' } });
  t.is(invalid.status, 400);
  t.deepEqual(invalid.body, grape('expires_at is invalid'));
  const tooFar = await app.request(ROTATE_SELF, { method: 'POST', token: plaintext, form: { expires_at: '2030-01-01' } });
  t.is(tooFar.status, 400);
  t.deepEqual(tooFar.body, { message: '400 Bad request - Expires at must be before 2027-11-22' });
  t.false((await tokenRow(app, token.id))!.revoked);
  t.is(await countTokens(app, { user_id: user.id }), 1);
});

test('rotate self: 200 with the new token (self_rotate or api), default expiry in a week; the old one is refused next', async (t) => {
  for (const scopes of [['self_rotate'], ['api', 'read_user']]) {
    const { user, token, plaintext } = await userWithToken(app, scopes);
    const response = await app.request(ROTATE_SELF, { method: 'POST', token: plaintext });
    t.is(response.status, 200);
    const { token: secret, ...entity } = response.body;
    t.regex(secret, /^glpat-/);
    t.deepEqual(entity, tokenJson({ id: entity.id, user_id: user.id, scopes, expires_at: IN_A_WEEK }));
    t.like((await tokenRow(app, entity.id))!, { previous_personal_access_token_id: token.id, revoked: false, scopes });
    t.true((await tokenRow(app, token.id))!.revoked);
    t.not((await tokenRow(app, entity.id))!.token_digest, secret);
    t.is((await app.request(SELF, { token: secret })).body.id, entity.id);
  }
});

test('rotate self: an explicit expires_at; an impersonation token may rotate and its successor is one too', async (t) => {
  const { user } = await userWithToken(app);
  const impersonation = await app.services.tokens.tokens.create(user, { name: 'imp', scopes: ['api'], impersonation: true, description: 'd' });
  const response = await app.request(ROTATE_SELF, { method: 'POST', token: impersonation.plaintext, body: { expires_at: '2027-06-30T12:00:00Z' } });
  t.is(response.status, 200);
  const { token: _secret, ...entity } = response.body;
  t.deepEqual(entity, tokenJson({ id: entity.id, user_id: user.id, name: 'imp', description: 'd', expires_at: '2027-06-30' }));
  t.like((await tokenRow(app, entity.id))!, { impersonation: true, previous_personal_access_token_id: impersonation.token.id });
});

test('rotate self: reusing a rotated token is 401 and revokes every token rotated from it', async (t) => {
  const { user, token: first, plaintext: firstSecret } = await userWithToken(app, ['api']);
  const second = (await app.request(ROTATE_SELF, { method: 'POST', token: firstSecret })).body;
  const third = (await app.request(ROTATE_SELF, { method: 'POST', token: second.token })).body;
  t.is((await app.request(SELF, { token: third.token })).status, 200);
  const unrelated = await app.services.tokens.tokens.create(user, { name: 'unrelated', scopes: ['api'] });

  const reused = await app.request(ROTATE_SELF, { method: 'POST', token: firstSecret });
  t.is(reused.status, 401);
  t.deepEqual(reused.body, REVOKED);
  for (const id of [first.id, second.id, third.id]) t.true((await tokenRow(app, id))!.revoked, String(id));
  t.false((await tokenRow(app, unrelated.token.id))!.revoked);
  const thirdNow = await app.request(SELF, { token: third.token });
  t.is(thirdNow.status, 401);
  t.deepEqual(thirdNow.body, REVOKED);
  t.is((await app.request(SELF, { token: unrelated.plaintext })).status, 200);
  t.is(await countTokens(app, { user_id: user.id }), 4);
});
