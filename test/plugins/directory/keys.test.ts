import test from 'ava';
import { startTestApp, ROOT_TOKEN, EXTERNAL_URL, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { makeEd25519Key, makeRsaKey } from '../../helpers/ssh-keys.js';
import { FORBIDDEN, UNAUTHORIZED, insufficientScope } from '../../helpers/gitlab-errors.js';

const NOW = '2026-11-22T10:00:00.000Z';
const KEY_NOT_FOUND = { message: '404 Key Not Found' };
const USER_NOT_FOUND = { message: '404 User Not Found' };
const MALFORMED_KEY = { message: { key: ['is invalid'], fingerprint_sha256: ['cannot be generated'] } };
const DUPLICATE_KEY = { message: { fingerprint_sha256: ['has already been taken'] } };
const EXPIRED_KEY = { message: { key: ['has expired'] } };

let app: TestApp;
let nonAdminApi: string;
let readUserOnly: string;
let readApiOnly: string;
let readRepositoryOnly: string;
let adminReadApi: string;

test.before(async () => {
  app = await startTestApp();
  nonAdminApi = (await createUserWithToken(app, ['api'])).plaintext;
  readUserOnly = (await createUserWithToken(app, ['read_user'])).plaintext;
  readApiOnly = (await createUserWithToken(app, ['read_api'])).plaintext;
  readRepositoryOnly = (await createUserWithToken(app, ['read_repository'])).plaintext;
  adminReadApi = (await createUserWithToken(app, ['read_api'], { admin: true })).plaintext;
});
test.after.always(async () => {
  await app?.close();
});

/** A user key as GitLab publishes it: type and key material, the comment replaced by `<name> (<host>)`. */
const published = (line: string, ownerName: string) => `${line.split(' ').slice(0, 2).join(' ')} ${ownerName} (gatehouse.test)`;

const keyRows = (where: Record<string, unknown>) => app.db('directory_ssh_keys').where(where).orderBy('id');

/** Adds a key through the API as the token's owner; fails the test unless it is created. */
async function addKey(token: string, body: Record<string, unknown>) {
  const response = await app.request('/api/v4/user/keys', { method: 'POST', token, body });
  if (response.status !== 201) throw new Error(`adding a key failed: ${response.status} ${response.text}`);
  return response.body as { id: number; key: string };
}

// ---------------------------------------------------------------- auth matrix (every route)

const ROUTES: Array<[string, string]> = [
  ['GET', '/api/v4/user/keys'],
  ['POST', '/api/v4/user/keys'],
  ['DELETE', '/api/v4/user/keys/1'],
  ['POST', '/api/v4/users/1/keys'],
];

const refusesAnonymous = test.macro({
  async exec(t, method: string, path: string) {
    const response = await app.request(path, { method, body: method === 'GET' ? undefined : {} });
    t.is(response.status, 401);
    t.deepEqual(response.body, UNAUTHORIZED);
  },
  title: (_title, method, path) => `${method} ${path}: no credentials → 401`,
});
for (const [method, path] of ROUTES) test(refusesAnonymous, method, path);

/** Tokens by description, for titles; filled in `test.before`. */
const scopedTokens = () => ({
  'a read_user token': readUserOnly,
  'a read_api token': readApiOnly,
  'a read_repository token': readRepositoryOnly,
  'an admin read_api token': adminReadApi,
});
type ScopedToken = keyof ReturnType<typeof scopedTokens>;

const refusesScope = test.macro({
  async exec(t, method: string, path: string, token: ScopedToken, scope: string) {
    const response = await app.request(path, { method, token: scopedTokens()[token], body: method === 'GET' ? undefined : {} });
    t.is(response.status, 403);
    t.deepEqual(response.body, insufficientScope(scope));
  },
  title: (_title, method, path, token, scope) => `${method} ${path}: ${token} → 403 insufficient_scope "${scope}"`,
});
test(refusesScope, 'GET', '/api/v4/user/keys', 'a read_repository token', 'api read_api read_user');
test(refusesScope, 'POST', '/api/v4/user/keys', 'a read_user token', 'api');
test(refusesScope, 'POST', '/api/v4/user/keys', 'a read_api token', 'api');
test(refusesScope, 'DELETE', '/api/v4/user/keys/1', 'a read_user token', 'api');
test(refusesScope, 'DELETE', '/api/v4/user/keys/1', 'a read_api token', 'api');
test(refusesScope, 'POST', '/api/v4/users/1/keys', 'an admin read_api token', 'api');

test('POST /users/:user_id/keys: a non-admin → 403 Forbidden', async (t) => {
  const response = await app.request('/api/v4/users/1/keys', { method: 'POST', token: nonAdminApi, body: { title: 'x', key: makeEd25519Key().line } });
  t.is(response.status, 403);
  t.deepEqual(response.body, FORBIDDEN);
});

const rejectsInput = test.macro({
  async exec(t, method: string, path: string, body: Record<string, unknown> | undefined, error: string) {
    const response = await app.request(path, { method, token: ROOT_TOKEN, body });
    t.is(response.status, 400);
    t.deepEqual(response.body, { error });
  },
  title: (_title, method, path, body, error) => `${method} ${path} ${JSON.stringify(body ?? {})}: 400 "${error}"`,
});
test(rejectsInput, 'GET', '/api/v4/user/keys?per_page=0', undefined, 'per_page has a value not allowed');
test(rejectsInput, 'GET', '/api/v4/user/keys?page=x', undefined, 'page is invalid');
test(rejectsInput, 'POST', '/api/v4/user/keys', {}, 'key is missing, title is missing');
test(rejectsInput, 'POST', '/api/v4/user/keys', { key: 'ssh-ed25519 AAAA' }, 'title is missing');
test(rejectsInput, 'POST', '/api/v4/user/keys', { title: 'x', key: 'k', usage_type: 'everything' }, 'usage_type does not have a valid value');
test(rejectsInput, 'POST', '/api/v4/user/keys', { title: 'x', key: 'k', expires_at: 'soon' }, 'expires_at is invalid');
test(rejectsInput, 'POST', '/api/v4/user/keys', { title: 'x', key: 'k', expires_at: '2027-02-30' }, 'expires_at is invalid');
test(rejectsInput, 'DELETE', '/api/v4/user/keys/abc', undefined, 'key_id is invalid');
test(rejectsInput, 'POST', '/api/v4/users/abc/keys', {}, 'user_id is invalid, key is missing, title is missing');
test(rejectsInput, 'POST', '/api/v4/users/1/keys', { key: 'k' }, 'title is missing');

// ---------------------------------------------------------------- POST /user/keys

test('POST /user/keys adds an ed25519 key and answers 201 with the SSHKey entity', async (t) => {
  const { user, plaintext } = await createUserWithToken(app, ['api']);
  const key = makeEd25519Key('me@laptop');
  const response = await app.request('/api/v4/user/keys', {
    method: 'POST',
    token: plaintext,
    body: { title: 'Laptop', key: `  ${key.line}\n`, expires_at: '2027-01-31T12:30:00Z', usage_type: 'auth' },
  });
  t.is(response.status, 201);
  t.deepEqual(response.body, {
    id: response.body.id,
    title: 'Laptop',
    created_at: NOW,
    expires_at: '2027-01-31T12:30:00.000Z',
    last_used_at: null,
    key: published(key.line, user.name),
    usage_type: 'auth',
  });

  const [row] = await keyRows({ user_id: user.id });
  t.like(row, { id: response.body.id, type: 'key', title: 'Laptop', key: key.line, fingerprint_sha256: key.fingerprintSha256, usage_type: 'auth' });
  t.is(new Date(row.expires_at).toISOString(), '2027-01-31T12:30:00.000Z');
  t.is(new Date(row.created_at).toISOString(), NOW);
  t.is(row.last_used_at, null);
});

test('POST /user/keys takes a form body, an RSA key, a date-only expiry and defaults usage_type to auth_and_signing', async (t) => {
  const { user, plaintext } = await createUserWithToken(app, ['api']);
  const key = makeRsaKey(2048, 'rsa@host');
  const response = await app.request('/api/v4/user/keys', { method: 'POST', token: plaintext, form: { title: 'RSA', key: key.line, expires_at: '2026-11-23' } });
  t.is(response.status, 201);
  t.like(response.body, { title: 'RSA', key: published(key.line, user.name), expires_at: '2026-11-23T00:00:00.000Z', usage_type: 'auth_and_signing' });
  const [row] = await keyRows({ user_id: user.id });
  t.like(row, { fingerprint_sha256: key.fingerprintSha256, usage_type: 'auth_and_signing' });
});

test('POST /user/keys refuses a malformed key with GitLab\'s model error and stores nothing', async (t) => {
  const { user, plaintext } = await createUserWithToken(app, ['api']);
  const ed25519 = makeEd25519Key();
  for (const bad of [
    'not a key',
    `ssh-rsa ${ed25519.blob}`, // declared type disagrees with the blob
    `ssh-ed25519 ${ed25519.blob.slice(0, -8)}`, // truncated
    makeRsaKey(768).line, // too short to be accepted
  ]) {
    const response = await app.request('/api/v4/user/keys', { method: 'POST', token: plaintext, body: { title: 'bad', key: bad } });
    t.is(response.status, 400, bad);
    t.deepEqual(response.body, MALFORMED_KEY, bad);
  }
  t.deepEqual(await keyRows({ user_id: user.id }), []);
});

test('POST /user/keys refuses a key already registered, even with another comment or by another user', async (t) => {
  const first = await createUserWithToken(app, ['api']);
  const second = await createUserWithToken(app, ['api']);
  const key = makeEd25519Key('original');
  await addKey(first.plaintext, { title: 'first', key: key.line });

  for (const [token, line] of [
    [first.plaintext, key.line],
    [first.plaintext, `${key.type} ${key.blob} another-comment`],
    [second.plaintext, `${key.type} ${key.blob}`],
  ]) {
    const response = await app.request('/api/v4/user/keys', { method: 'POST', token, body: { title: 'again', key: line } });
    t.is(response.status, 400);
    t.deepEqual(response.body, DUPLICATE_KEY);
  }
  t.is((await keyRows({ fingerprint_sha256: key.fingerprintSha256 })).length, 1);
  t.deepEqual(await keyRows({ user_id: second.user.id }), []);
});

test('POST /user/keys refuses an expiry that is not in the future, to the second', async (t) => {
  const { user, plaintext } = await createUserWithToken(app, ['api']);
  for (const expiresAt of ['2026-11-22T10:00:00Z', '2026-11-22T11:00:00+01:00', '2026-11-22', '2020-01-01T00:00:00Z']) {
    const response = await app.request('/api/v4/user/keys', { method: 'POST', token: plaintext, body: { title: 't', key: makeEd25519Key().line, expires_at: expiresAt } });
    t.is(response.status, 400, expiresAt);
    t.deepEqual(response.body, EXPIRED_KEY, expiresAt);
  }
  t.deepEqual(await keyRows({ user_id: user.id }), []);

  const oneSecondLater = await app.request('/api/v4/user/keys', {
    method: 'POST',
    token: plaintext,
    body: { title: 't', key: makeEd25519Key().line, expires_at: '2026-11-22T10:00:01Z' },
  });
  t.is(oneSecondLater.status, 201);
  t.is(oneSecondLater.body.expires_at, '2026-11-22T10:00:01.000Z');
});

test('POST /user/keys reports every model error at once, as GitLab does', async (t) => {
  const { plaintext } = await createUserWithToken(app, ['api']);
  const blank = await app.request('/api/v4/user/keys', { method: 'POST', token: plaintext, body: { title: ' ', key: 'nope', expires_at: '2020-01-01' } });
  t.is(blank.status, 400);
  t.deepEqual(blank.body, { message: { title: ["can't be blank"], key: ['is invalid', 'has expired'], fingerprint_sha256: ['cannot be generated'] } });

  const long = await app.request('/api/v4/user/keys', { method: 'POST', token: plaintext, body: { title: 'x'.repeat(256), key: makeEd25519Key().line } });
  t.is(long.status, 400);
  t.deepEqual(long.body, { message: { title: ['is too long (maximum is 255 characters)'] } });
});

// ---------------------------------------------------------------- GET /user/keys

test('GET /user/keys lists only the caller\'s keys, oldest first, paginated', async (t) => {
  const owner = await createUserWithToken(app, ['read_user']);
  const writer = await createUserWithToken(app, ['api']);
  const keys = [makeEd25519Key('one'), makeEd25519Key('two'), makeEd25519Key('three')];
  const added = [];
  for (const [i, key] of keys.entries()) {
    added.push((await app.services.directory.keys.add(owner.user.id, { title: `key ${i}`, key: key.line })) as { id: number });
  }
  await addKey(writer.plaintext, { title: 'someone else', key: makeEd25519Key().line });

  const first = await app.request('/api/v4/user/keys?per_page=2', { token: owner.plaintext });
  t.is(first.status, 200);
  t.deepEqual(first.body, [
    { id: added[0].id, title: 'key 0', created_at: NOW, expires_at: null, last_used_at: null, key: published(keys[0].line, owner.user.name), usage_type: 'auth_and_signing' },
    { id: added[1].id, title: 'key 1', created_at: NOW, expires_at: null, last_used_at: null, key: published(keys[1].line, owner.user.name), usage_type: 'auth_and_signing' },
  ]);
  t.is(first.headers.get('x-total'), '3');
  t.is(first.headers.get('x-total-pages'), '2');
  t.is(first.headers.get('x-next-page'), '2');
  t.true(first.headers.get('link')!.includes(`<${EXTERNAL_URL}/api/v4/user/keys?per_page=2&page=2>; rel="next"`));

  const second = await app.request('/api/v4/user/keys?per_page=2&page=2', { token: owner.plaintext });
  t.deepEqual(
    second.body.map((key: { id: number }) => key.id),
    [added[2].id],
  );
  t.is(second.headers.get('x-prev-page'), '1');
  t.is(second.headers.get('x-next-page'), '');
});

test('GET /user/keys accepts api and read_api tokens and answers [] without keys', async (t) => {
  for (const token of [readApiOnly, nonAdminApi]) {
    const response = await app.request('/api/v4/user/keys', { token, auth: 'bearer' });
    t.is(response.status, 200);
    t.deepEqual(response.body, []);
    t.is(response.headers.get('x-total'), '0');
  }
});

// ---------------------------------------------------------------- DELETE /user/keys/:key_id

test('DELETE /user/keys/:key_id removes the caller\'s key with 204', async (t) => {
  const { user, plaintext } = await createUserWithToken(app, ['api']);
  const kept = await addKey(plaintext, { title: 'kept', key: makeEd25519Key().line });
  const doomed = await addKey(plaintext, { title: 'doomed', key: makeEd25519Key().line });

  const response = await app.request(`/api/v4/user/keys/${doomed.id}`, { method: 'DELETE', token: plaintext });
  t.is(response.status, 204);
  t.is(response.text, '');
  t.deepEqual(
    (await keyRows({ user_id: user.id })).map((row) => Number(row.id)),
    [kept.id],
  );

  const again = await app.request(`/api/v4/user/keys/${doomed.id}`, { method: 'DELETE', token: plaintext });
  t.is(again.status, 404);
  t.deepEqual(again.body, KEY_NOT_FOUND);
});

test('DELETE /user/keys/:key_id answers 404 Key Not Found for someone else\'s key, and keeps it', async (t) => {
  const owner = await createUserWithToken(app, ['api']);
  const other = await createUserWithToken(app, ['api']);
  const key = await addKey(owner.plaintext, { title: 'mine', key: makeEd25519Key().line });

  const theirs = await app.request(`/api/v4/user/keys/${key.id}`, { method: 'DELETE', token: other.plaintext });
  t.is(theirs.status, 404);
  t.deepEqual(theirs.body, KEY_NOT_FOUND);
  // An admin's own-keys route does not reach other users' keys either.
  const asAdmin = await app.request(`/api/v4/user/keys/${key.id}`, { method: 'DELETE', token: ROOT_TOKEN });
  t.deepEqual(asAdmin.body, KEY_NOT_FOUND);
  const unknown = await app.request('/api/v4/user/keys/99999999', { method: 'DELETE', token: other.plaintext });
  t.deepEqual(unknown.body, KEY_NOT_FOUND);

  t.is((await keyRows({ id: key.id })).length, 1);
});

// ---------------------------------------------------------------- POST /users/:user_id/keys

test('POST /users/:user_id/keys lets an admin add a key for a user', async (t) => {
  const { user, plaintext } = await createUserWithToken(app, ['read_user']);
  const key = makeEd25519Key('deploy@ci');
  const response = await app.request(`/api/v4/users/${user.id}/keys`, {
    method: 'POST',
    token: ROOT_TOKEN,
    body: { title: 'CI', key: key.line, usage_type: 'signing' },
  });
  t.is(response.status, 201);
  t.deepEqual(response.body, {
    id: response.body.id,
    title: 'CI',
    created_at: NOW,
    expires_at: null,
    last_used_at: null,
    key: published(key.line, user.name),
    usage_type: 'signing',
  });
  const [row] = await keyRows({ id: response.body.id });
  t.like(row, { type: 'key', title: 'CI', fingerprint_sha256: key.fingerprintSha256, usage_type: 'signing' });
  t.is(Number(row.user_id), user.id);

  // The user sees it as their own.
  const listed = await app.request('/api/v4/user/keys', { token: plaintext });
  t.deepEqual(listed.body, [response.body]);
});

test('POST /users/:user_id/keys: unknown user → 404 User Not Found; model errors as for /user/keys', async (t) => {
  const key = makeEd25519Key();
  const unknown = await app.request('/api/v4/users/99999999/keys', { method: 'POST', token: ROOT_TOKEN, body: { title: 't', key: key.line } });
  t.is(unknown.status, 404);
  t.deepEqual(unknown.body, USER_NOT_FOUND);
  t.deepEqual(await keyRows({ fingerprint_sha256: key.fingerprintSha256 }), []);

  const { user } = await createUserWithToken(app, ['api']);
  const malformed = await app.request(`/api/v4/users/${user.id}/keys`, { method: 'POST', token: ROOT_TOKEN, body: { title: 't', key: 'ssh-ed25519 AAAA' } });
  t.is(malformed.status, 400);
  t.deepEqual(malformed.body, MALFORMED_KEY);
});
