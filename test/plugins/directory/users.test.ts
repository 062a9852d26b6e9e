import test from 'ava';
import { startTestApp, ROOT_TOKEN, EXTERNAL_URL, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { makeEd25519Key } from '../../helpers/ssh-keys.js';
import { FORBIDDEN, UNAUTHORIZED, insufficientScope } from '../../helpers/gitlab-errors.js';
import { adminEntity, basicEntity, personalNamespaceId, profileEntity, type UserLike } from './user-entities.js';

const NOW = '2026-11-22T10:00:00.000Z';
const BLOCKED = { message: '403 Forbidden - Your account has been blocked.' };
const USER_NOT_FOUND = { message: '404 User Not Found' };

let app: TestApp;
/** Tokens for the auth matrix, made once: scopes and admin flags that each route must refuse. */
let nonAdminApi: string;
let adminReadApi: string;
let adminReadUser: string;
let readRepositoryOnly: string;

test.before(async () => {
  app = await startTestApp();
  nonAdminApi = (await createUserWithToken(app, ['api'])).plaintext;
  adminReadApi = (await createUserWithToken(app, ['read_api'], { admin: true })).plaintext;
  adminReadUser = (await createUserWithToken(app, ['read_user'], { admin: true })).plaintext;
  readRepositoryOnly = (await createUserWithToken(app, ['read_repository'])).plaintext;
});
test.after.always(async () => {
  await app?.close();
});

let sequence = 0;
/** A fresh, unique username (tests share one app and run concurrently). */
const uniqueName = (prefix = 'u') => `${prefix}${++sequence}_${Math.random().toString(36).slice(2, 8)}`;

/** The admin entity GitLab answers to admins' writes, for a user created at NOW (by root when `byRoot`). */
async function fullEntity(user: UserLike, extra: Record<string, unknown> = {}, byRoot = true) {
  const namespaceId = await personalNamespaceId(app.db, user.id);
  const root = { id: 1, username: 'root', name: 'Administrator' };
  const createdBy = byRoot ? basicEntity(root) : null;
  return adminEntity({ email: `${user.username}@example.com`, ...user }, NOW, { namespaceId, createdBy }, extra);
}

const userRow = (id: number) => app.db('directory_users').where({ id }).first();

// ---------------------------------------------------------------- auth matrix (every route)

const refusesAnonymous = test.macro({
  async exec(t, method: string, path: string) {
    const response = await app.request(path, { method, body: method === 'GET' ? undefined : {} });
    t.is(response.status, 401);
    t.deepEqual(response.body, UNAUTHORIZED);
  },
  title: (_title, method, path) => `${method} ${path}: no credentials → 401`,
});

/** Tokens by description, for titles; filled in `test.before`. */
const scopedTokens = () => ({ 'an admin read_user token': adminReadUser, 'an admin read_api token': adminReadApi, 'a read_repository token': readRepositoryOnly });
type ScopedToken = keyof ReturnType<typeof scopedTokens>;

const refusesScope = test.macro({
  async exec(t, method: string, path: string, token: ScopedToken, scope: string) {
    const response = await app.request(path, { method, token: scopedTokens()[token], body: method === 'GET' ? undefined : {} });
    t.is(response.status, 403);
    t.deepEqual(response.body, insufficientScope(scope));
  },
  title: (_title, method, path, token, scope) => `${method} ${path}: ${token} → 403 insufficient_scope "${scope}"`,
});

const refusesNonAdmin = test.macro({
  async exec(t, method: string, path: string) {
    const response = await app.request(path, { method, token: nonAdminApi, body: method === 'GET' ? undefined : {} });
    t.is(response.status, 403);
    t.deepEqual(response.body, FORBIDDEN);
  },
  title: (_title, method, path) => `${method} ${path}: a non-admin → 403 Forbidden`,
});

const ADMIN_ROUTES: Array<[string, string]> = [
  ['POST', '/api/v4/users'],
  ['PUT', '/api/v4/users/1'],
  ['DELETE', '/api/v4/users/1'],
  ['POST', '/api/v4/users/1/block'],
  ['POST', '/api/v4/users/1/unblock'],
];

for (const [method, path] of ADMIN_ROUTES) {
  test(refusesAnonymous, method, path);
}
for (const [method, path] of ADMIN_ROUTES) {
  test(refusesNonAdmin, method, path);
  // An admin's read_user token reads neither the list nor writes anything.
  const scope = method === 'GET' ? 'api read_api' : 'api';
  test(refusesScope, method, path, 'an admin read_user token', scope);
  if (method !== 'GET') test(refusesScope, method, path, 'an admin read_api token', 'api');
}
test(refusesScope, 'GET', '/api/v4/users/1', 'a read_repository token', 'api read_api read_user');

const rejectsInput = test.macro({
  async exec(t, method: string, path: string, body: Record<string, unknown> | undefined, error: string) {
    const response = await app.request(path, { method, token: ROOT_TOKEN, body });
    t.is(response.status, 400);
    t.deepEqual(response.body, { error });
  },
  title: (_title, method, path, _body, error) => `${method} ${path}: 400 "${error}"`,
});

test(rejectsInput, 'GET', '/api/v4/users?per_page=0', undefined, 'per_page has a value not allowed');
test(rejectsInput, 'GET', '/api/v4/users?sort=sideways', undefined, 'sort does not have a valid value');
test(rejectsInput, 'PUT', '/api/v4/users/abc', {}, 'id is invalid');
test(rejectsInput, 'PUT', '/api/v4/users/1', { admin: 'maybe' }, 'admin is invalid');
test(rejectsInput, 'DELETE', '/api/v4/users/abc', undefined, 'id is invalid');
test(rejectsInput, 'POST', '/api/v4/users/abc/block', undefined, 'id is invalid');
test(rejectsInput, 'POST', '/api/v4/users/abc/unblock', undefined, 'id is invalid');
test(
  rejectsInput,
  'POST',
  '/api/v4/users',
  {},
  'email is missing, password, reset_password, force_random_password are missing, at least one parameter must be provided, name is missing, username is missing',
);
test(rejectsInput, 'POST', '/api/v4/users', { email: 'a@example.com', name: 'A', username: 'a' }, 'password, reset_password, force_random_password are missing, at least one parameter must be provided');
test(rejectsInput, 'POST', '/api/v4/users', { password: 'long-enough-1', name: 'A' }, 'email is missing, username is missing');
test(
  rejectsInput,
  'POST',
  '/api/v4/users',
  { email: 'a@example.com', reset_password: 'perhaps', name: 'A', username: 'a', admin: 'x' },
  'reset_password is invalid, admin is invalid',
);

const answersUserNotFound = test.macro({
  async exec(t, method: string, path: string) {
    const response = await app.request(path, { method, token: ROOT_TOKEN, body: method === 'GET' || method === 'DELETE' ? undefined : {} });
    t.is(response.status, 404);
    t.deepEqual(response.body, USER_NOT_FOUND);
  },
  title: (_title, method, path) => `${method} ${path}: unknown user → 404 User Not Found`,
});

for (const [method, path] of [
  ['GET', '/api/v4/users/999999'],
  ['PUT', '/api/v4/users/999999'],
  ['DELETE', '/api/v4/users/999999'],
  ['POST', '/api/v4/users/999999/block'],
  ['POST', '/api/v4/users/999999/unblock'],
] as Array<[string, string]>) {
  test(answersUserNotFound, method, path);
}

// ---------------------------------------------------------------- GET /users

test.serial('GET /users lists every user newest first, with GitLab pagination headers', async (t) => {
  const ids = (await app.db('directory_users').select('id').orderBy('id', 'desc')).map((row) => Number(row.id));
  const response = await app.request('/api/v4/users?per_page=2', { token: ROOT_TOKEN });
  t.is(response.status, 200);
  t.deepEqual(
    response.body.map((user: { id: number }) => user.id),
    ids.slice(0, 2),
  );
  const headers = Object.fromEntries(['x-page', 'x-per-page', 'x-next-page', 'x-prev-page', 'x-total', 'x-total-pages'].map((h) => [h, response.headers.get(h)]));
  t.deepEqual(headers, {
    'x-page': '1',
    'x-per-page': '2',
    'x-next-page': '2',
    'x-prev-page': '',
    'x-total': String(ids.length),
    'x-total-pages': String(Math.ceil(ids.length / 2)),
  });
  const link = response.headers.get('link')!;
  t.true(link.includes(`<${EXTERNAL_URL}/api/v4/users?per_page=2&page=2>; rel="next"`));
  t.true(link.includes(`<${EXTERNAL_URL}/api/v4/users?per_page=2&page=1>; rel="first"`));

  const ascending = await app.request('/api/v4/users?sort=asc&order_by=id&per_page=1', { token: ROOT_TOKEN });
  t.deepEqual(
    ascending.body.map((user: { id: number }) => user.id),
    [ids[ids.length - 1]],
  );

  // The database's own collation decides name order; the id breaks ties.
  const byUsername = (await app.db('directory_users').select('id').orderBy('username', 'asc').orderBy('id', 'asc')).map((row) => Number(row.id));
  const ordered = await app.request('/api/v4/users?order_by=username&sort=asc', { token: ROOT_TOKEN });
  t.deepEqual(
    ordered.body.map((user: { id: number }) => user.id),
    byUsername,
  );
});

test('GET /users?username= finds one user case-insensitively and shows the admin entity', async (t) => {
  const username = uniqueName('Finder');
  const { user } = await createUserWithToken(app, ['api'], { username });
  const response = await app.request(`/api/v4/users?username=${username.toUpperCase()}`, { token: ROOT_TOKEN });
  t.is(response.status, 200);
  t.deepEqual(response.body, [await fullEntity(user, {}, false)]);
  t.is(response.headers.get('x-total'), '1');
  t.is(response.headers.get('x-total-pages'), '1');
  t.is(response.headers.get('x-next-page'), '');

  const none = await app.request('/api/v4/users?username=nobody-has-this-name', { token: ROOT_TOKEN });
  t.is(none.status, 200);
  t.deepEqual(none.body, []);
  t.is(none.headers.get('x-total'), '0');
  t.is(none.headers.get('x-total-pages'), '1');
});

test('GET /users accepts an admin read_api token', async (t) => {
  const response = await app.request('/api/v4/users?username=root', { token: adminReadApi });
  t.is(response.status, 200);
  t.is(response.body.length, 1);
  t.is(response.body[0].username, 'root');
});

// ---------------------------------------------------------------- POST /users

test('POST /users creates an active user and answers 201 with the full entity', async (t) => {
  const username = uniqueName('New');
  const body = { username, name: 'New Person', email: `${username}@Example.com`, password: 'correct-horse-battery', skip_confirmation: true };
  const response = await app.request('/api/v4/users', { method: 'POST', token: ROOT_TOKEN, body });
  t.is(response.status, 201);
  const id = response.body.id;
  t.true(Number.isInteger(id));
  t.deepEqual(response.body, await fullEntity({ id, username, name: 'New Person', email: `${username}@Example.com` }));

  const row = await userRow(id);
  t.like(row, { username, username_lower: username.toLowerCase(), name: 'New Person', email_lower: body.email.toLowerCase(), state: 'active' });
  t.false(Boolean(row.is_admin));
  t.is(new Date(row.created_at).toISOString(), NOW);
  t.regex(row.password_hash, /^scrypt\$/);
  const user = await app.services.directory.users.findById(id);
  t.true(await app.services.directory.users.checkPassword(user, 'correct-horse-battery'));
});

test('POST /users with admin=true (form-encoded) creates an admin', async (t) => {
  const username = uniqueName('admin');
  const response = await app.request('/api/v4/users', {
    method: 'POST',
    token: ROOT_TOKEN,
    form: { username, name: 'An Admin', email: `${username}@example.com`, password: 'correct-horse-battery', admin: 'true' },
  });
  t.is(response.status, 201);
  t.true(response.body.is_admin);
  t.true(Boolean((await userRow(response.body.id)).is_admin));
});

for (const flag of ['force_random_password', 'reset_password']) {
  test(`POST /users with ${flag} sets a random password, ignoring a given one`, async (t) => {
    const username = uniqueName('random');
    const response = await app.request('/api/v4/users', {
      method: 'POST',
      token: ROOT_TOKEN,
      body: { username, name: 'Random', email: `${username}@example.com`, [flag]: true, password: 'short' },
    });
    t.is(response.status, 201);
    const row = await userRow(response.body.id);
    t.regex(row.password_hash, /^scrypt\$/);
    const user = await app.services.directory.users.findById(response.body.id);
    t.false(await app.services.directory.users.checkPassword(user, 'short'));
  });
}

test('POST /users with the password flags false and no password is a model error', async (t) => {
  const username = uniqueName('nopw');
  const response = await app.request('/api/v4/users', {
    method: 'POST',
    token: ROOT_TOKEN,
    body: { username, name: 'No Password', email: `${username}@example.com`, force_random_password: false },
  });
  t.is(response.status, 400);
  t.deepEqual(response.body, { message: { password: ["can't be blank"] } });
  t.falsy(await app.db('directory_users').where({ username_lower: username.toLowerCase() }).first());
});

test('POST /users refuses a short password with the model error and stores nothing', async (t) => {
  const username = uniqueName('short');
  const response = await app.request('/api/v4/users', {
    method: 'POST',
    token: ROOT_TOKEN,
    body: { username, name: 'Short', email: `${username}@example.com`, password: 'seven77' },
  });
  t.is(response.status, 400);
  t.deepEqual(response.body, { message: { password: ['is too short (minimum is 8 characters)'] } });
  t.falsy(await app.db('directory_users').where({ username_lower: username.toLowerCase() }).first());
});

test('POST /users: a taken username or email is 409, the email checked first', async (t) => {
  const { user } = await createUserWithToken(app, ['api'], { username: uniqueName('Taken') });
  const fresh = uniqueName('fresh');
  const attempt = (body: Record<string, unknown>) =>
    app.request('/api/v4/users', { method: 'POST', token: ROOT_TOKEN, body: { name: 'Clash', password: 'correct-horse-battery', ...body } });

  const username = await attempt({ username: user.username.toUpperCase(), email: `${fresh}@example.com` });
  t.is(username.status, 409);
  t.deepEqual(username.body, { message: 'Username has already been taken' });

  const email = await attempt({ username: fresh, email: user.email.toUpperCase() });
  t.is(email.status, 409);
  t.deepEqual(email.body, { message: 'Email has already been taken' });

  const both = await attempt({ username: user.username, email: user.email });
  t.deepEqual(both.body, { message: 'Email has already been taken' });
  t.falsy(await app.db('directory_users').where({ username_lower: fresh.toLowerCase() }).first());
});

// ---------------------------------------------------------------- GET /users/:id

test('GET /users/:id shows non-admins the profile entity, even of themself, and admins the details', async (t) => {
  const target = await createUserWithToken(app, ['read_user']);
  const viewer = await createUserWithToken(app, ['read_user']);
  const path = `/api/v4/users/${target.user.id}`;

  const asOther = await app.request(path, { token: viewer.plaintext });
  t.is(asOther.status, 200);
  t.deepEqual(asOther.body, profileEntity(target.user, NOW));

  const asSelf = await app.request(path, { token: target.plaintext, auth: 'bearer' });
  t.is(asSelf.status, 200);
  t.deepEqual(asSelf.body, profileEntity(target.user, NOW));

  const asAdmin = await app.request(path, { token: ROOT_TOKEN });
  t.deepEqual(asAdmin.body, {
    ...(await fullEntity(target.user, {}, false)),
    bio_html: '',
    highest_role: 0,
    current_sign_in_ip: null,
    last_sign_in_ip: null,
    sign_in_count: 0,
  });
});

test('GET /users/:id accepts read_api and api tokens', async (t) => {
  for (const token of [nonAdminApi, adminReadApi]) {
    const response = await app.request('/api/v4/users/1', { token });
    t.is(response.status, 200);
    t.is(response.body.username, 'root');
  }
});

// ---------------------------------------------------------------- PUT /users/:id

test('PUT /users/:id updates the user and answers the full entity', async (t) => {
  const { user } = await createUserWithToken(app, ['api']);
  const username = uniqueName('Renamed');
  const response = await app.request(`/api/v4/users/${user.id}`, {
    method: 'PUT',
    token: ROOT_TOKEN,
    body: { name: 'Renamed Person', username, email: `${username}@example.org`, password: 'new-password-123', two_factor_enabled: true },
  });
  t.is(response.status, 200);
  t.deepEqual(
    response.body,
    await fullEntity({ id: user.id, username, name: 'Renamed Person', email: `${username}@example.org` }, { two_factor_enabled: true }, false),
  );

  const row = await userRow(user.id);
  t.like(row, { username, username_lower: username.toLowerCase(), email: `${username}@example.org`, name: 'Renamed Person' });
  t.true(Boolean(row.two_factor_enabled));
  const updated = await app.services.directory.users.findById(user.id);
  t.true(await app.services.directory.users.checkPassword(updated, 'new-password-123'));
  t.false(await app.services.directory.users.checkPassword(updated, 'correct-horse-battery'));
});

test('PUT /users/:id with admin=true gives admin powers on the very next request', async (t) => {
  const { user, plaintext } = await createUserWithToken(app, ['api']);
  const before = await app.request('/api/v4/users?username=root', { token: plaintext });
  t.is(before.status, 200);
  t.is(before.body[0].email, undefined);

  const response = await app.request(`/api/v4/users/${user.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { admin: true } });
  t.is(response.status, 200);
  t.true(response.body.is_admin);
  t.true(Boolean((await userRow(user.id)).is_admin));

  const after = await app.request('/api/v4/users?username=root', { token: plaintext });
  t.is(after.status, 200);
  t.is(after.body[0].email, 'admin@example.com');
});

test('PUT /users/:id refuses taken names (409) and invalid values (400) and changes nothing', async (t) => {
  const { user } = await createUserWithToken(app, ['api']);
  const other = await createUserWithToken(app, ['api']);
  const path = `/api/v4/users/${user.id}`;

  const email = await app.request(path, { method: 'PUT', token: ROOT_TOKEN, body: { email: other.user.email } });
  t.is(email.status, 409);
  t.deepEqual(email.body, { message: 'Email has already been taken' });

  const username = await app.request(path, { method: 'PUT', token: ROOT_TOKEN, body: { username: other.user.username } });
  t.is(username.status, 409);
  t.deepEqual(username.body, { message: 'Username has already been taken' });

  const short = await app.request(path, { method: 'PUT', token: ROOT_TOKEN, body: { password: 'short' } });
  t.is(short.status, 400);
  t.deepEqual(short.body, { message: { password: ['is too short (minimum is 8 characters)'] } });

  // Keeping one's own email is not a clash.
  const same = await app.request(path, { method: 'PUT', token: ROOT_TOKEN, body: { email: user.email } });
  t.is(same.status, 200);
  t.like(await userRow(user.id), { email: user.email, username: user.username });
});

// ---------------------------------------------------------------- DELETE /users/:id

test('DELETE /users/:id answers 204, removes the user with their keys and tokens, and their token stops working', async (t) => {
  const { user, plaintext } = await createUserWithToken(app, ['api']);
  const key = makeEd25519Key();
  const added = await app.request('/api/v4/user/keys', { method: 'POST', token: plaintext, body: { title: 'laptop', key: key.line } });
  t.is(added.status, 201);
  t.is((await app.request('/api/v4/user', { token: plaintext })).status, 200);

  const response = await app.request(`/api/v4/users/${user.id}`, { method: 'DELETE', token: ROOT_TOKEN });
  t.is(response.status, 204);
  t.is(response.text, '');

  t.is(await userRow(user.id), undefined);
  t.is(await app.db('directory_ssh_keys').where({ user_id: user.id }).first(), undefined);
  t.is(await app.db('tokens_personal_access_tokens').where({ user_id: user.id }).first(), undefined);

  const after = await app.request('/api/v4/user', { token: plaintext });
  t.is(after.status, 401);
  t.deepEqual(after.body, UNAUTHORIZED);
  const again = await app.request(`/api/v4/users/${user.id}`, { method: 'DELETE', token: ROOT_TOKEN });
  t.deepEqual(again.body, USER_NOT_FOUND);
});

// ---------------------------------------------------------------- block / unblock

test('blocking locks the user out on the very next request; unblocking lets them back in on the next', async (t) => {
  const { user, plaintext } = await createUserWithToken(app, ['api']);
  // Warm the principal cache: the next requests must not be answered from a stale entry.
  t.is((await app.request('/api/v4/user', { token: plaintext })).status, 200);

  const block = await app.request(`/api/v4/users/${user.id}/block`, { method: 'POST', token: ROOT_TOKEN });
  t.is(block.status, 201);
  t.is(block.text, 'true');
  t.regex(block.headers.get('content-type')!, /^application\/json/);
  t.is((await userRow(user.id)).state, 'blocked');

  const refused = await app.request('/api/v4/user', { token: plaintext });
  t.is(refused.status, 403);
  t.deepEqual(refused.body, BLOCKED);

  const shown = await app.request(`/api/v4/users/${user.id}`, { token: ROOT_TOKEN });
  t.is(shown.body.state, 'blocked');

  const unblock = await app.request(`/api/v4/users/${user.id}/unblock`, { method: 'POST', token: ROOT_TOKEN });
  t.is(unblock.status, 201);
  t.is(unblock.body, true);
  t.is((await userRow(user.id)).state, 'active');

  const back = await app.request('/api/v4/user', { token: plaintext });
  t.is(back.status, 200);
  t.is(back.body.state, 'active');
});

test('blocking a blocked user is still 201 true; unblocking an active one too', async (t) => {
  const { user } = await createUserWithToken(app, ['api']);
  for (let i = 0; i < 2; i++) {
    const response = await app.request(`/api/v4/users/${user.id}/block`, { method: 'POST', token: ROOT_TOKEN });
    t.is(response.status, 201);
    t.is(response.body, true);
  }
  t.is((await userRow(user.id)).state, 'blocked');
  for (let i = 0; i < 2; i++) {
    const response = await app.request(`/api/v4/users/${user.id}/unblock`, { method: 'POST', token: ROOT_TOKEN });
    t.is(response.status, 201);
    t.is(response.body, true);
  }
  t.is((await userRow(user.id)).state, 'active');
});

test('an admin cannot block themself through the API', async (t) => {
  const { user, plaintext } = await createUserWithToken(app, ['api'], { admin: true });
  const response = await app.request(`/api/v4/users/${user.id}/block`, { method: 'POST', token: plaintext });
  t.is(response.status, 403);
  t.deepEqual(response.body, { message: '403 Forbidden - The API initiating user cannot be blocked by the API' });
  t.is((await userRow(user.id)).state, 'active');
});

test('a deactivated user cannot be unblocked by the API', async (t) => {
  const { user } = await createUserWithToken(app, ['api']);
  await app.services.directory.users.setState(user, 'deactivated');
  const response = await app.request(`/api/v4/users/${user.id}/unblock`, { method: 'POST', token: ROOT_TOKEN });
  t.is(response.status, 403);
  t.deepEqual(response.body, { message: '403 Forbidden - Deactivated users cannot be unblocked by the API' });
  t.is((await userRow(user.id)).state, 'deactivated');
});

test('POST /users: concurrent creates of one username store one user; the others get 409, never a 500', async (t) => {
  const username = uniqueName('race');
  const responses = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      app.request('/api/v4/users', {
        method: 'POST',
        token: ROOT_TOKEN,
        body: { username, name: 'Racer', email: `${username}-${i}@example.com`, password: 'long-enough-password' },
      }),
    ),
  );
  const statuses = responses.map((r) => r.status).sort();
  t.deepEqual(statuses, [201, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
  for (const response of responses.filter((r) => r.status === 409)) t.deepEqual(response.body, { message: 'Username has already been taken' });
  const rows = await app.db('directory_users').where({ username_lower: username.toLowerCase() });
  t.is(rows.length, 1);
  t.is((await app.db('directory_namespaces').where({ full_path_lower: username.toLowerCase() })).length, 1);
});

test('PUT /users/:id: a new username moves the personal namespace and its projects\' paths', async (t) => {
  const { user, plaintext } = await createUserWithToken(app, ['api']);
  const created = await app.request('/api/v4/projects', { method: 'POST', token: plaintext, body: { name: 'moving', path: 'moving' } });
  t.is(created.status, 201);
  const renamed = uniqueName('renamed');
  const response = await app.request(`/api/v4/users/${user.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { username: renamed } });
  t.is(response.status, 200);
  t.is(response.body.username, renamed);
  const project = await app.request(`/api/v4/projects/${encodeURIComponent(`${renamed}/moving`)}`, { token: plaintext });
  t.is(project.status, 200);
  t.is(project.body.path_with_namespace, `${renamed}/moving`);
  t.is((await app.request(`/api/v4/projects/${encodeURIComponent(`${user.username}/moving`)}`, { token: plaintext })).status, 404);
  const namespace = await app.db('directory_namespaces').where({ kind: 'user', owner_id: user.id }).first();
  t.like(namespace, { path: renamed, full_path: renamed });
});
