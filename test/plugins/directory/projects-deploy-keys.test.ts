import test from 'ava';
import { startTestApp, ROOT_TOKEN, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { makeEd25519Key } from '../../helpers/ssh-keys.js';
import { FORBIDDEN, UNAUTHORIZED, insufficientScope } from '../../helpers/gitlab-errors.js';

const NOW = '2026-11-22T10:00:00.000Z';
const PROJECT_NOT_FOUND = { message: '404 Project Not Found' };

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

interface TestUser {
  id: number;
  token: string;
}

let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}-${Math.random().toString(36).slice(2, 7)}`;

async function newUser(scopes: string[] = ['api']): Promise<TestUser> {
  const { user, plaintext } = await createUserWithToken(app, scopes);
  return { id: user.id, token: plaintext };
}

async function post(path: string, token: string, body: Record<string, unknown>) {
  const response = await app.request(path, { method: 'POST', token, body });
  if (response.status !== 201) throw new Error(`POST ${path} failed: ${response.status} ${response.text}`);
  return response.body;
}

/** A private project with a maintainer and a developer, and `count` deploy keys. */
async function projectWithKeys(count: number) {
  const owner = await newUser();
  const maintainer = await newUser();
  const developer = await newUser();
  const project = await post('/api/v4/projects', owner.token, { path: unique('keys') });
  await post(`/api/v4/projects/${project.id}/members`, owner.token, { user_id: maintainer.id, access_level: 40 });
  await post(`/api/v4/projects/${project.id}/members`, owner.token, { user_id: developer.id, access_level: 30 });
  const keys: Array<{ id: number; key: string; title: string; fingerprint: string }> = [];
  for (let i = 0; i < count; i += 1) {
    const key = makeEd25519Key();
    const created = await post(`/api/v4/projects/${project.id}/deploy_keys`, owner.token, { title: `key ${i}`, key: key.line, can_push: i === 0 });
    keys.push({ id: created.id, key: created.key, title: `key ${i}`, fingerprint: key.fingerprintSha256 });
  }
  return { owner, maintainer, developer, project, keys };
}

const ROUTES: Array<[string, string]> = [
  ['GET', '/api/v4/projects/1/deploy_keys'],
  ['GET', '/api/v4/projects/1/deploy_keys/1'],
  ['DELETE', '/api/v4/projects/1/deploy_keys/1'],
];

for (const [method, path] of ROUTES) {
  test(`${method} ${path}: no credentials → 401; a read_user token → 403 insufficient_scope`, async (t) => {
    const anonymous = await app.request(path, { method });
    t.is(anonymous.status, 401);
    t.deepEqual(anonymous.body, UNAUTHORIZED);
    const reader = await newUser(['read_user']);
    const scoped = await app.request(path, { method, token: reader.token });
    t.is(scoped.status, 403);
    t.deepEqual(scoped.body, insufficientScope(method === 'GET' ? 'api read_api' : 'api'));
  });
}

test('deploy-key routes: a non-member → 404 Project Not Found; a developer → 403; bad key_id → 400', async (t) => {
  const { project, developer, keys, owner } = await projectWithKeys(1);
  const outsider = await newUser();
  for (const [method, suffix] of [['GET', ''], ['GET', `/${keys[0].id}`], ['DELETE', `/${keys[0].id}`]]) {
    const hidden = await app.request(`/api/v4/projects/${project.id}/deploy_keys${suffix}`, { method, token: outsider.token });
    t.is(hidden.status, 404);
    t.deepEqual(hidden.body, PROJECT_NOT_FOUND);
    const forbidden = await app.request(`/api/v4/projects/${project.id}/deploy_keys${suffix}`, { method, token: developer.token });
    t.is(forbidden.status, 403);
    t.deepEqual(forbidden.body, FORBIDDEN);
  }
  const bad = await app.request(`/api/v4/projects/${project.id}/deploy_keys/abc`, { method: 'DELETE', token: owner.token });
  t.is(bad.status, 400);
  t.deepEqual(bad.body, { error: 'key_id is invalid' });
});

test('GET /projects/:id/deploy_keys lists the keys with can_push, paginated', async (t) => {
  const { project, maintainer, keys } = await projectWithKeys(3);
  const entity = (i: number) => ({
    id: keys[i].id,
    title: keys[i].title,
    created_at: NOW,
    expires_at: null,
    key: keys[i].key,
    usage_type: 'auth_and_signing',
    fingerprint_sha256: `SHA256:${keys[i].fingerprint}`,
    can_push: i === 0,
  });
  const first = await app.request(`/api/v4/projects/${project.id}/deploy_keys?per_page=2`, { token: maintainer.token });
  t.is(first.status, 200);
  t.deepEqual(first.body, [entity(0), entity(1)]);
  t.is(first.headers.get('x-total'), '3');
  t.is(first.headers.get('x-next-page'), '2');
  const second = await app.request(`/api/v4/projects/${project.id}/deploy_keys?per_page=2&page=2`, { token: maintainer.token });
  t.deepEqual(second.body, [entity(2)]);
  const one = await app.request(`/api/v4/projects/${project.id}/deploy_keys/${keys[1].id}`, { token: maintainer.token });
  t.is(one.status, 200);
  t.deepEqual(one.body, entity(1));
  const unknown = await app.request(`/api/v4/projects/${project.id}/deploy_keys/999999`, { token: maintainer.token });
  t.is(unknown.status, 404);
  t.deepEqual(unknown.body, { message: '404 Not found' });
});

test('DELETE /projects/:id/deploy_keys/:key_id unlinks the key; the key goes when no other project uses it', async (t) => {
  const { project, maintainer, keys, owner } = await projectWithKeys(2);
  const other = await post('/api/v4/projects', owner.token, { path: unique('other') });
  const shared = await app.db('directory_ssh_keys').where({ id: keys[1].id }).first();
  await post(`/api/v4/projects/${other.id}/deploy_keys`, owner.token, { title: 'again', key: shared.key });

  const removed = await app.request(`/api/v4/projects/${project.id}/deploy_keys/${keys[0].id}`, { method: 'DELETE', token: maintainer.token });
  t.is(removed.status, 204);
  t.is(removed.text, '');
  t.is(await app.db('directory_ssh_keys').where({ id: keys[0].id }).first(), undefined);
  const unlinked = await app.request(`/api/v4/projects/${project.id}/deploy_keys/${keys[1].id}`, { method: 'DELETE', token: maintainer.token });
  t.is(unlinked.status, 204);
  t.truthy(await app.db('directory_ssh_keys').where({ id: keys[1].id }).first());
  t.deepEqual(
    (await app.db('directory_deploy_keys_projects').where({ deploy_key_id: keys[1].id })).map((row) => row.project_id),
    [other.id],
  );
  t.deepEqual((await app.request(`/api/v4/projects/${project.id}/deploy_keys`, { token: maintainer.token })).body, []);
  // GitLab Shell's view follows at once: the key no longer opens the project.
  t.is(await app.services.directory.projects.deployKeyLink(keys[1].id, project.id), undefined);

  const again = await app.request(`/api/v4/projects/${project.id}/deploy_keys/${keys[0].id}`, { method: 'DELETE', token: ROOT_TOKEN });
  t.is(again.status, 404);
  t.deepEqual(again.body, { message: '404 Deploy key Not Found' });
});

test('a deploy key id past what an id column holds is unknown', async (t) => {
  const { project, owner } = await projectWithKeys(0);
  const shown = await app.request(`/api/v4/projects/${project.id}/deploy_keys/2147483648`, { token: owner.token });
  t.is(shown.status, 404);
  t.deepEqual(shown.body, { message: '404 Not found' });
  const removed = await app.request(`/api/v4/projects/${project.id}/deploy_keys/2147483648`, { method: 'DELETE', token: owner.token });
  t.is(removed.status, 404);
  t.deepEqual(removed.body, { message: '404 Deploy key Not Found' });
});
