import test from 'ava';
import { createHash } from 'node:crypto';
import { startTestApp, ROOT_TOKEN, EXTERNAL_URL, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { makeEd25519Key, makeRsaKey, type TestSshKey } from '../../helpers/ssh-keys.js';
import { FORBIDDEN, UNAUTHORIZED, insufficientScope } from '../../helpers/gitlab-errors.js';
import { shellHeaders } from '../../helpers/shell.js';
import { publicEntity } from './user-entities.js';

const NOW = '2026-11-22T10:00:00.000Z';
const KEY_NOT_FOUND = { message: '404 Key Not Found' };
const USER_NOT_FOUND = { message: '404 User Not Found' };
const RECORD_NOT_FOUND = { message: '404 Not found' };
const FINGERPRINT_FAILED = { message: 'Failed to return the key' };

let app: TestApp;
let nonAdmin: string;
let readRepository: string;
let adminReadApi: string;
let adminReadUser: string;

test.before(async () => {
  app = await startTestApp();
  nonAdmin = (await createUserWithToken(app, ['api'])).plaintext;
  readRepository = (await createUserWithToken(app, ['read_repository'])).plaintext;
  adminReadApi = (await createUserWithToken(app, ['read_api'], { admin: true })).plaintext;
  adminReadUser = (await createUserWithToken(app, ['read_user'], { admin: true })).plaintext;
});
test.after.always(async () => {
  await app?.close();
});

/** A user key as GitLab publishes it: type and key material, the comment replaced by `<name> (<host>)`. */
const published = (line: string, ownerName: string) => `${line.split(' ').slice(0, 2).join(' ')} ${ownerName} (gatehouse.test)`;
const md5Of = (key: TestSshKey) => key.fingerprintMd5;

/** A user with a token and `count` keys (comments naming the owner's email, which GitLab never shows). */
async function userWithKeys(count: number, scopes = ['api']) {
  const owner = await createUserWithToken(app, scopes);
  const keys = [];
  for (let i = 0; i < count; i++) {
    const material = makeEd25519Key(owner.user.email);
    const key = await app.services.directory.keys.add(owner.user.id, { title: `key ${i}`, key: material.line });
    keys.push({ id: key.id as number, material });
  }
  return { ...owner, keys };
}

const entity = (key: { id: number; material: TestSshKey }, ownerName: string, title: string) => ({
  id: key.id,
  title,
  created_at: NOW,
  expires_at: null,
  last_used_at: null,
  key: published(key.material.line, ownerName),
  usage_type: 'auth_and_signing',
});

test('DELETE /users/:id/keys/:key_id honours If-Unmodified-Since', async (t) => {
  const owner = await userWithKeys(1);
  const path = `/api/v4/users/${owner.user.id}/keys/${owner.keys[0].id}`;
  const stale = await app.request(path, { method: 'DELETE', token: ROOT_TOKEN, headers: { 'If-Unmodified-Since': new Date(Date.parse(NOW) - 1000).toUTCString() } });
  t.is(stale.status, 412);
  t.deepEqual(stale.body, { message: '412 Precondition Failed' });
  t.is((await app.db('directory_ssh_keys').where({ id: owner.keys[0].id })).length, 1);
  const current = await app.request(path, { method: 'DELETE', token: ROOT_TOKEN, headers: { 'If-Unmodified-Since': new Date(NOW).toUTCString() } });
  t.is(current.status, 204);

  // The caller's own delete too.
  const own = await userWithKeys(1);
  const ownPath = `/api/v4/user/keys/${own.keys[0].id}`;
  const ownStale = await app.request(ownPath, { method: 'DELETE', token: own.plaintext, headers: { 'If-Unmodified-Since': new Date(Date.parse(NOW) - 1000).toUTCString() } });
  t.is(ownStale.status, 412);
  // A header that is no date is ignored, as GitLab ignores it.
  const ignored = await app.request(ownPath, { method: 'DELETE', token: own.plaintext, headers: { 'If-Unmodified-Since': 'yesterday' } });
  t.is(ignored.status, 204);
});

/** A project of a fresh maintainer with one deploy key (`can_push`), added through the API. */
async function deployKeyFixture() {
  const maintainer = await createUserWithToken(app, ['api']);
  const project = await app.request('/api/v4/projects', { method: 'POST', token: maintainer.plaintext, body: { name: `deploy-${maintainer.user.id}` } });
  const material = makeRsaKey(2048, 'ci@deploy');
  const added = await app.request(`/api/v4/projects/${project.body.id}/deploy_keys`, {
    method: 'POST',
    token: maintainer.plaintext,
    body: { title: 'CI', key: material.line, can_push: true },
  });
  if (added.status !== 201) throw new Error(`deploy key: ${added.status} ${added.text}`);
  return { maintainer, project: project.body, material, id: added.body.id as number };
}

// ---------------------------------------------------------------- auth matrix

const refuses = test.macro({
  async exec(
    t,
    method: string,
    path: string,
    who: 'anonymous' | 'unknown' | 'non-admin' | 'read_repository' | 'admin read_api' | 'admin read_user',
    status: number,
    body: unknown,
  ) {
    const tokens = {
      anonymous: undefined,
      unknown: 'glpat-not-a-real-token-000000',
      'non-admin': nonAdmin,
      read_repository: readRepository,
      'admin read_api': adminReadApi,
      'admin read_user': adminReadUser,
    };
    const response = await app.request(path, { method, token: tokens[who] });
    t.is(response.status, status);
    t.deepEqual(response.body, body);
  },
  title: (_title, method, path, who, status) => `${method} ${path}: ${who} → ${status}`,
});

for (const [method, path] of [
  ['GET', '/api/v4/users/1/keys'],
  ['GET', '/api/v4/users/1/keys/1'],
  ['DELETE', '/api/v4/users/1/keys/1'],
  ['GET', '/api/v4/user/keys/1'],
  ['GET', '/api/v4/keys/1'],
  ['GET', '/api/v4/keys?fingerprint=SHA256:x'],
]) {
  test(refuses, method, path, 'unknown', 401, UNAUTHORIZED);
}
for (const [method, path] of [
  ['DELETE', '/api/v4/users/1/keys/1'],
  ['GET', '/api/v4/user/keys/1'],
  ['GET', '/api/v4/keys/1'],
  ['GET', '/api/v4/keys?fingerprint=SHA256:x'],
]) {
  test(refuses, method, path, 'anonymous', 401, UNAUTHORIZED);
}
for (const [method, path] of [
  ['DELETE', '/api/v4/users/1/keys/1'],
  ['GET', '/api/v4/keys/1'],
  ['GET', '/api/v4/keys?fingerprint=SHA256:x'],
]) {
  test(refuses, method, path, 'non-admin', 403, FORBIDDEN);
}
test(refuses, 'GET', '/api/v4/users/1/keys', 'read_repository', 403, insufficientScope('api read_api read_user'));
test(refuses, 'GET', '/api/v4/users/1/keys/1', 'read_repository', 403, insufficientScope('api read_api read_user'));
test(refuses, 'GET', '/api/v4/user/keys/1', 'read_repository', 403, insufficientScope('api read_api read_user'));
test(refuses, 'DELETE', '/api/v4/users/1/keys/1', 'admin read_api', 403, insufficientScope('api'));
test(refuses, 'GET', '/api/v4/keys/1', 'admin read_user', 403, insufficientScope('api read_api'));
test(refuses, 'GET', '/api/v4/keys?fingerprint=SHA256:x', 'admin read_user', 403, insufficientScope('api read_api'));

const rejects = test.macro({
  async exec(t, method: string, path: string, error: string) {
    const response = await app.request(path, { method, token: ROOT_TOKEN });
    t.is(response.status, 400);
    t.deepEqual(response.body, { error });
  },
  title: (_title, method, path, error) => `${method} ${path}: 400 "${error}"`,
});
test(rejects, 'GET', '/api/v4/users/1/keys?per_page=0', 'per_page has a value not allowed');
test(rejects, 'GET', '/api/v4/users/abc/keys/1', 'id is invalid');
test(rejects, 'GET', '/api/v4/users/1/keys/abc', 'key_id is invalid');
test(rejects, 'DELETE', '/api/v4/users/abc/keys/1', 'id is invalid');
test(rejects, 'DELETE', '/api/v4/users/1/keys/abc', 'key_id is invalid');
test(rejects, 'GET', '/api/v4/user/keys/abc', 'key_id is invalid');
test(rejects, 'GET', '/api/v4/keys/abc', 'id is invalid');
test(rejects, 'GET', '/api/v4/keys', 'fingerprint is missing');

// ---------------------------------------------------------------- GET /users/:user_id/keys

test('GET /users/:user_id/keys lists a user\'s keys to anyone, by id or username, with published comments', async (t) => {
  const owner = await userWithKeys(3);
  const expected = owner.keys.map((key, i) => entity(key, owner.user.name, `key ${i}`));
  for (const ref of [owner.user.id, owner.user.username]) {
    const anonymous = await app.request(`/api/v4/users/${ref}/keys`);
    t.is(anonymous.status, 200);
    t.deepEqual(anonymous.body, expected);
    t.false(JSON.stringify(anonymous.body).includes(owner.user.email));
  }
  const asUser = await app.request(`/api/v4/users/${owner.user.id}/keys?per_page=2&page=2`, { token: nonAdmin });
  t.deepEqual(asUser.body, expected.slice(2));
  t.is(asUser.headers.get('x-total'), '3');
  t.is(asUser.headers.get('x-prev-page'), '1');
  t.true(asUser.headers.get('link')!.includes(`<${EXTERNAL_URL}/api/v4/users/${owner.user.id}/keys?per_page=2&page=1>; rel="prev"`));
});

test('GET /users/:user_id/keys: an unknown user is 404 User Not Found; a user without keys an empty list', async (t) => {
  for (const ref of ['99999999', 'nobody-has-this-name']) {
    const response = await app.request(`/api/v4/users/${ref}/keys`);
    t.is(response.status, 404);
    t.deepEqual(response.body, USER_NOT_FOUND);
  }
  const empty = await userWithKeys(0);
  const response = await app.request(`/api/v4/users/${empty.user.id}/keys`);
  t.deepEqual(response.body, []);
  t.is(response.headers.get('x-total'), '0');
});

// ---------------------------------------------------------------- GET /users/:id/keys/:key_id

test('GET /users/:id/keys/:key_id shows one key of that user to anyone; another user\'s key is 404 Key Not Found', async (t) => {
  const owner = await userWithKeys(1);
  const other = await userWithKeys(1);
  const shown = await app.request(`/api/v4/users/${owner.user.id}/keys/${owner.keys[0].id}`);
  t.is(shown.status, 200);
  t.deepEqual(shown.body, entity(owner.keys[0], owner.user.name, 'key 0'));

  const wrongOwner = await app.request(`/api/v4/users/${owner.user.id}/keys/${other.keys[0].id}`, { token: ROOT_TOKEN });
  t.is(wrongOwner.status, 404);
  t.deepEqual(wrongOwner.body, KEY_NOT_FOUND);
  const unknownUser = await app.request(`/api/v4/users/99999999/keys/${owner.keys[0].id}`);
  t.deepEqual(unknownUser.body, USER_NOT_FOUND);
  const unknownKey = await app.request(`/api/v4/users/${owner.user.id}/keys/99999999`);
  t.deepEqual(unknownKey.body, KEY_NOT_FOUND);
});

// ---------------------------------------------------------------- DELETE /users/:id/keys/:key_id

test('DELETE /users/:id/keys/:key_id (admin) answers 204, removes the key, and GitLab Shell stops finding it', async (t) => {
  const owner = await userWithKeys(2);
  const [doomed, kept] = owner.keys;
  const blob = doomed.material.line.split(' ')[1];
  const authorized = async () => app.request(`/api/v4/internal/authorized_keys?key=${encodeURIComponent(blob)}`, { headers: await shellHeaders(app) });
  t.is((await authorized()).status, 200);

  const other = await userWithKeys(0);
  const wrongOwner = await app.request(`/api/v4/users/${other.user.id}/keys/${doomed.id}`, { method: 'DELETE', token: ROOT_TOKEN });
  t.is(wrongOwner.status, 404);
  t.deepEqual(wrongOwner.body, KEY_NOT_FOUND);
  const unknownUser = await app.request(`/api/v4/users/99999999/keys/${doomed.id}`, { method: 'DELETE', token: ROOT_TOKEN });
  t.deepEqual(unknownUser.body, USER_NOT_FOUND);

  const response = await app.request(`/api/v4/users/${owner.user.id}/keys/${doomed.id}`, { method: 'DELETE', token: ROOT_TOKEN });
  t.is(response.status, 204);
  t.is(response.text, '');
  t.deepEqual(
    (await app.db('directory_ssh_keys').where({ user_id: owner.user.id })).map((row) => Number(row.id)),
    [kept.id],
  );
  t.is((await authorized()).status, 404);
  const again = await app.request(`/api/v4/users/${owner.user.id}/keys/${doomed.id}`, { method: 'DELETE', token: ROOT_TOKEN });
  t.deepEqual(again.body, KEY_NOT_FOUND);
});

// ---------------------------------------------------------------- GET /user/keys/:key_id

test('GET /user/keys/:key_id shows the caller\'s own key; anyone else\'s is 404 Key Not Found', async (t) => {
  const owner = await userWithKeys(1, ['read_user']);
  const other = await userWithKeys(1);
  const own = await app.request(`/api/v4/user/keys/${owner.keys[0].id}`, { token: owner.plaintext });
  t.is(own.status, 200);
  t.deepEqual(own.body, entity(owner.keys[0], owner.user.name, 'key 0'));
  const theirs = await app.request(`/api/v4/user/keys/${other.keys[0].id}`, { token: owner.plaintext });
  t.is(theirs.status, 404);
  t.deepEqual(theirs.body, KEY_NOT_FOUND);
  const asAdmin = await app.request(`/api/v4/user/keys/${other.keys[0].id}`, { token: ROOT_TOKEN });
  t.deepEqual(asAdmin.body, KEY_NOT_FOUND);
});

test('GET /user/keys publishes the owner\'s current name in place of the key\'s comment', async (t) => {
  const owner = await userWithKeys(1, ['read_user']);
  await app.services.directory.users.update(owner.user, { name: 'Renamed Owner' });
  const listed = await app.request('/api/v4/user/keys', { token: owner.plaintext });
  t.deepEqual(listed.body, [entity(owner.keys[0], 'Renamed Owner', 'key 0')]);
  // The stored key keeps its comment.
  t.is((await app.db('directory_ssh_keys').where({ id: owner.keys[0].id }).first()).key, owner.keys[0].material.line);
});

// ---------------------------------------------------------------- GET /keys/:id

test('GET /keys/:id (admin) shows the key with its owner; an unknown id is 404 "Not found"', async (t) => {
  const owner = await userWithKeys(1);
  const response = await app.request(`/api/v4/keys/${owner.keys[0].id}`, { token: adminReadApi });
  t.is(response.status, 200);
  t.deepEqual(response.body, { ...entity(owner.keys[0], owner.user.name, 'key 0'), user: publicEntity(owner.user, NOW) });

  const unknown = await app.request('/api/v4/keys/99999999', { token: ROOT_TOKEN });
  t.is(unknown.status, 404);
  t.deepEqual(unknown.body, RECORD_NOT_FOUND);
});

test('GET /keys/:id of a deploy key shows the stored key and no user', async (t) => {
  const deploy = await deployKeyFixture();
  const response = await app.request(`/api/v4/keys/${deploy.id}`, { token: ROOT_TOKEN });
  t.is(response.status, 200);
  t.deepEqual(response.body, {
    id: deploy.id,
    title: 'CI',
    created_at: NOW,
    expires_at: null,
    last_used_at: null,
    key: deploy.material.line,
    usage_type: 'auth_and_signing',
    user: null,
  });
});

// ---------------------------------------------------------------- GET /keys?fingerprint=

test('GET /keys?fingerprint= finds a user key by SHA256 (either prefix case) or MD5 fingerprint', async (t) => {
  const owner = await userWithKeys(1);
  const key = owner.keys[0];
  const expected = { ...entity(key, owner.user.name, 'key 0'), user: publicEntity(owner.user, NOW) };
  for (const fingerprint of [`SHA256:${key.material.fingerprintSha256}`, `sha256:${key.material.fingerprintSha256}`, md5Of(key.material), md5Of(key.material).toUpperCase()]) {
    const response = await app.request(`/api/v4/keys?fingerprint=${encodeURIComponent(fingerprint)}`, { token: ROOT_TOKEN });
    t.is(response.status, 200, fingerprint);
    t.deepEqual(response.body, expected, fingerprint);
  }
  t.is((await app.db('directory_ssh_keys').where({ id: key.id }).first()).fingerprint_md5, md5Of(key.material));
});

test('GET /keys?fingerprint= of a deploy key shows it with the projects it is enabled on', async (t) => {
  const deploy = await deployKeyFixture();
  const link = await app.db('directory_deploy_keys_projects').where({ deploy_key_id: deploy.id }).first();
  const response = await app.request(`/api/v4/keys?fingerprint=${encodeURIComponent(`SHA256:${deploy.material.fingerprintSha256}`)}`, { token: ROOT_TOKEN });
  t.is(response.status, 200);
  t.deepEqual(response.body, {
    id: deploy.id,
    title: 'CI',
    created_at: NOW,
    expires_at: null,
    last_used_at: null,
    key: deploy.material.line,
    usage_type: 'auth_and_signing',
    fingerprint: md5Of(deploy.material),
    fingerprint_sha256: `SHA256:${deploy.material.fingerprintSha256}`,
    user: null,
    deploy_keys_projects: [{ id: Number(link.id), deploy_key_id: deploy.id, project_id: deploy.project.id, created_at: NOW, updated_at: NOW, can_push: true }],
  });
});

test('GET /keys?fingerprint=: a malformed fingerprint is 400 "Failed to return the key"; an unknown one 404 Key Not Found', async (t) => {
  for (const fingerprint of ['SHA256:', 'SHA256:not base64!', `SHA256:${Buffer.alloc(16).toString('base64')}`, 'aa:bb', 'zz:'.repeat(15) + 'zz', 'nonsense']) {
    const response = await app.request(`/api/v4/keys?fingerprint=${encodeURIComponent(fingerprint)}`, { token: ROOT_TOKEN });
    t.is(response.status, 400, fingerprint);
    t.deepEqual(response.body, FINGERPRINT_FAILED, fingerprint);
  }
  const unknownSha = `SHA256:${createHash('sha256').update('nobody').digest('base64').replace(/=+$/, '')}`;
  const unknownMd5 = createHash('md5').update('nobody').digest('hex').replace(/(..)(?!$)/g, '$1:');
  for (const fingerprint of [unknownSha, unknownMd5]) {
    const response = await app.request(`/api/v4/keys?fingerprint=${encodeURIComponent(fingerprint)}`, { token: ROOT_TOKEN });
    t.is(response.status, 404, fingerprint);
    t.deepEqual(response.body, KEY_NOT_FOUND);
  }
});
