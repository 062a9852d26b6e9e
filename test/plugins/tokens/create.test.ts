import test from 'ava';
import { ROOT_TOKEN, startTestApp, type TestApp } from '../../helpers/app.js';
import {
  FORBIDDEN,
  IN_A_YEAR,
  UNAUTHORIZED,
  USER_NOT_FOUND,
  countTokens,
  grape,
  insufficientScope,
  tokenJson,
  tokenRow,
  userWithToken,
} from './_support.js';

const OWN = '/api/v4/user/personal_access_tokens';
const forUser = (id: number | string) => `/api/v4/users/${id}/personal_access_tokens`;
const unprocessable = (message: string) => ({ message });

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

/** Checks a 201 creation body against the row it stored, and that only a digest was stored. */
async function assertCreated(
  t: import('ava').ExecutionContext,
  response: { status: number; body: any },
  expected: Omit<Parameters<typeof tokenJson>[0], 'id'>,
) {
  t.is(response.status, 201);
  const { token: plaintext, ...entity } = response.body;
  t.regex(plaintext, /^glpat-[\w-]{20,}$/);
  t.deepEqual(entity, tokenJson({ ...expected, id: entity.id }));
  const row = (await tokenRow(app, entity.id))!;
  t.like(row, { user_id: expected.user_id, revoked: false, impersonation: false, scopes: entity.scopes, expires_at: entity.expires_at });
  t.not(row.token_digest, plaintext);
  t.false(row.token_digest.includes(plaintext));
  return { id: entity.id as number, plaintext: plaintext as string };
}

// --- POST /user/personal_access_tokens -------------------------------------------------------------

test('create own: 401 without credentials, 403 insufficient_scope for read_api', async (t) => {
  const none = await app.request(OWN, { method: 'POST', body: { name: 'x', scopes: ['k8s_proxy'] } });
  t.is(none.status, 401);
  t.deepEqual(none.body, UNAUTHORIZED);
  const { user, plaintext } = await userWithToken(app, ['read_api']);
  const scoped = await app.request(OWN, { method: 'POST', token: plaintext, body: { name: 'x', scopes: ['k8s_proxy'] } });
  t.is(scoped.status, 403);
  t.deepEqual(scoped.body, insufficientScope('api'));
  t.is(await countTokens(app, { user_id: user.id }), 1);
});

test('create own: Grape\'s 400 messages, including the exactly-one and mutually-exclusive groups', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  const cases: Array<[unknown, string]> = [
    [{}, 'name is missing, scopes, granular_scopes are missing, exactly one parameter must be provided'],
    [{ name: 'x' }, 'scopes, granular_scopes are missing, exactly one parameter must be provided'],
    [{ name: 'x', scopes: ['api'] }, 'scopes does not have a valid value'],
    [{ name: 'x', scopes: 'k8s_proxy,read_user' }, 'scopes does not have a valid value'],
    [{ scopes: ['sudo'] }, 'name is missing, scopes does not have a valid value'],
    [{ name: 'x', scopes: ['k8s_proxy'], granular_scopes: [{ permissions: ['read_issue'] }] }, 'scopes, granular_scopes are mutually exclusive'],
    [{ name: 'x', scopes: ['k8s_proxy'], expires_at: '31/12/2026' }, 'expires_at is invalid'],
    [{ name: ['x'], scopes: ['k8s_proxy'] }, 'name is invalid'],
  ];
  for (const [body, message] of cases) {
    const response = await app.request(OWN, { method: 'POST', token: plaintext, body });
    t.is(response.status, 400, JSON.stringify(body));
    t.deepEqual(response.body, grape(message), JSON.stringify(body));
  }
  t.is(await countTokens(app, { user_id: user.id }), 1);
});

test('create own: model errors are 422 with the full-message sentence', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  const cases: Array<[unknown, string]> = [
    [{ name: 'x', scopes: [] }, "Scopes can't be blank"],
    [{ name: 'x', scopes: '' }, "Scopes can't be blank"],
    [{ name: 'x', granular_scopes: [{ permissions: ['read_issue'] }] }, "Scopes can't be blank"],
    [{ name: '', scopes: ['k8s_proxy'] }, "Name can't be blank"],
    [{ name: ' ', scopes: [] }, "Name can't be blank and Scopes can't be blank"],
    [{ name: 'x', scopes: ['k8s_proxy'], expires_at: '2027-11-23' }, 'Expires at must be before 2027-11-22'],
    [{ name: 'x', scopes: ['k8s_proxy'], description: 'd'.repeat(256) }, 'Description is too long (maximum is 255 characters)'],
    [{ name: '', scopes: [], description: 'd'.repeat(256), expires_at: '2099-01-01' }, "Name can't be blank, Scopes can't be blank, Description is too long (maximum is 255 characters), and Expires at must be before 2027-11-22"],
  ];
  for (const [body, message] of cases) {
    const response = await app.request(OWN, { method: 'POST', token: plaintext, body });
    t.is(response.status, 422, JSON.stringify(body));
    t.deepEqual(response.body, unprocessable(message), JSON.stringify(body));
  }
  t.is(await countTokens(app, { user_id: user.id }), 1);
});

test('create own: 201 with the token; it expires in a year by default and authenticates', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  const response = await app.request(OWN, { method: 'POST', token: plaintext, body: { name: 'k8s', scopes: ['k8s_proxy'], description: 'for the agent' } });
  const created = await assertCreated(t, response, { user_id: user.id, name: 'k8s', scopes: ['k8s_proxy'], description: 'for the agent', expires_at: IN_A_YEAR });
  t.is(await countTokens(app, { user_id: user.id }), 2);
  const self = await app.request('/api/v4/personal_access_tokens/self', { token: created.plaintext });
  t.is(self.status, 200);
  t.is(self.body.id, created.id);
});

test('create own: scopes as an array, a comma list, a JSON array string or form fields; expires_at as a datetime', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  const both = ['k8s_proxy', 'self_rotate'];
  const requests: Array<{ body?: Record<string, unknown>; form?: Record<string, string | string[]> }> = [
    { body: { name: 'a', scopes: both } },
    { body: { name: 'b', scopes: 'k8s_proxy, self_rotate' } },
    { body: { name: 'c', scopes: '["k8s_proxy","self_rotate"]' } },
    { form: { name: 'd', 'scopes[]': both } },
    { form: { name: 'e', scopes: 'k8s_proxy,self_rotate' } },
  ];
  for (const request of requests) {
    const response = await app.request(OWN, { method: 'POST', token: plaintext, ...request });
    const name = String((request.body ?? request.form)!.name);
    await assertCreated(t, response, { user_id: user.id, name, scopes: both, expires_at: IN_A_YEAR });
  }
  const datetime = await app.request(OWN, { method: 'POST', token: plaintext, body: { name: 'f', scopes: ['self_rotate'], expires_at: '2027-03-04T05:06:07Z' } });
  await assertCreated(t, datetime, { user_id: user.id, name: 'f', scopes: ['self_rotate'], expires_at: '2027-03-04' });
});

test('create own: a past expires_at is accepted, and the token is inactive at once', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  for (const expiresAt of ['2026-01-01', '2026-11-22']) {
    const response = await app.request(OWN, { method: 'POST', token: plaintext, body: { name: 'old', scopes: ['k8s_proxy'], expires_at: expiresAt } });
    const created = await assertCreated(t, response, { user_id: user.id, name: 'old', scopes: ['k8s_proxy'], expires_at: expiresAt, active: false });
    t.is((await app.request('/api/v4/personal_access_tokens/self', { token: created.plaintext })).status, 401);
  }
});

// --- POST /users/:user_id/personal_access_tokens (admin) -------------------------------------------

test('create for user: 401 without credentials, 403 for non-admins, 403 insufficient_scope for a read_api admin', async (t) => {
  const target = await userWithToken(app);
  const body = { name: 'x', scopes: ['api'] };
  const none = await app.request(forUser(target.user.id), { method: 'POST', body });
  t.deepEqual([none.status, none.body], [401, UNAUTHORIZED]);
  const nonAdmin = await app.request(forUser(target.user.id), { method: 'POST', token: target.plaintext, body });
  t.deepEqual([nonAdmin.status, nonAdmin.body], [403, FORBIDDEN]);
  const readOnlyAdmin = await userWithToken(app, ['read_api'], { admin: true });
  const scoped = await app.request(forUser(target.user.id), { method: 'POST', token: readOnlyAdmin.plaintext, body });
  t.deepEqual([scoped.status, scoped.body], [403, insufficientScope('api')]);
  t.is(await countTokens(app, { user_id: target.user.id }), 1);
});

test('create for user: 400 Grape messages come before the user lookup; then 404 for an unknown user', async (t) => {
  const { user } = await userWithToken(app);
  const cases: Array<[string, unknown, string]> = [
    [forUser(user.id), {}, 'name is missing, scopes is missing'],
    [forUser(user.id), { name: 'x', scopes: ['api', 'write'] }, 'scopes does not have a valid value'],
    [forUser(user.id), { name: 'x', scopes: ['api'], expires_at: 'never' }, 'expires_at is invalid'],
    [forUser('abc'), { name: 'x', scopes: ['api'] }, 'user_id is invalid'],
    [forUser(99_999), { scopes: ['api'] }, 'name is missing'],
  ];
  for (const [path, body, message] of cases) {
    const response = await app.request(path, { method: 'POST', token: ROOT_TOKEN, body });
    t.is(response.status, 400, message);
    t.deepEqual(response.body, grape(message), message);
  }
  const unknown = await app.request(forUser(99_999), { method: 'POST', token: ROOT_TOKEN, body: { name: 'x', scopes: ['api'] } });
  t.is(unknown.status, 404);
  t.deepEqual(unknown.body, USER_NOT_FOUND);
});

test('create for user: model errors are 422 sentences; sudo only for admin owners', async (t) => {
  const { user } = await userWithToken(app);
  const admin = await userWithToken(app, ['api'], { admin: true });
  const cases: Array<[number, unknown, string]> = [
    [user.id, { name: 'x', scopes: ['api'], expires_at: '2028-01-01' }, 'Expires at must be before 2027-11-22'],
    [user.id, { name: 'x', scopes: ['api', 'sudo'] }, 'Sudo can only be enabled for administrators'],
    [user.id, { name: 'x', scopes: [] }, "Scopes can't be blank"],
    [user.id, { name: '', scopes: ['sudo'] }, "Name can't be blank and Sudo can only be enabled for administrators"],
  ];
  for (const [id, body, message] of cases) {
    const response = await app.request(forUser(id), { method: 'POST', token: ROOT_TOKEN, body });
    t.is(response.status, 422, message);
    t.deepEqual(response.body, unprocessable(message), message);
  }
  t.is(await countTokens(app, { user_id: user.id }), 1);
  const sudo = await app.request(forUser(admin.user.id), { method: 'POST', token: ROOT_TOKEN, body: { name: 'sudo', scopes: ['api', 'sudo'] } });
  await assertCreated(t, sudo, { user_id: admin.user.id, name: 'sudo', scopes: ['api', 'sudo'], expires_at: IN_A_YEAR });
});

test('create for user: 201 with the whole entity and the token, for another user; the token acts as them', async (t) => {
  const { user } = await userWithToken(app);
  const response = await app.request(forUser(user.id), {
    method: 'POST',
    token: ROOT_TOKEN,
    form: { name: 'ci', 'scopes[]': ['read_api', 'read_repository'], expires_at: '2027-05-06', description: 'pipeline' },
  });
  const created = await assertCreated(t, response, {
    user_id: user.id,
    name: 'ci',
    scopes: ['read_api', 'read_repository'],
    description: 'pipeline',
    expires_at: '2027-05-06',
  });
  t.is(await countTokens(app, { user_id: user.id }), 2);
  const listed = await app.request('/api/v4/personal_access_tokens', { token: created.plaintext });
  t.is(listed.status, 200);
  t.true(listed.body.every((token: { user_id: number }) => token.user_id === user.id));
});

test('admin mode: admin routes need a token with the admin_mode scope', async (t) => {
  const own = await startTestApp({ config: { plugins: { tokens: { adminMode: true } } } });
  t.teardown(() => own.close());
  const target = await userWithToken(own);
  const admin = await userWithToken(own, ['api'], { admin: true });
  const body = { name: 'x', scopes: ['api'] };
  const refused = await own.request(forUser(target.user.id), { method: 'POST', token: admin.plaintext, body });
  t.deepEqual([refused.status, refused.body], [403, FORBIDDEN]);
  const allowed = await own.request(forUser(target.user.id), { method: 'POST', token: ROOT_TOKEN, body });
  t.is(allowed.status, 201);
  // Without admin_mode the admin is a regular user on shared routes too: the basic user entity, no email.
  const asRegular = await own.request(`/api/v4/users/${target.user.id}`, { token: admin.plaintext });
  t.is(asRegular.status, 200);
  t.false('email' in asRegular.body);
  const asAdmin = await own.request(`/api/v4/users/${target.user.id}`, { token: ROOT_TOKEN });
  t.is(asAdmin.body.email, target.user.email);
});
