import test from 'ava';
import { startTestApp, ROOT_TOKEN, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { makeEd25519Key } from '../../helpers/ssh-keys.js';
import { UNAUTHORIZED, insufficientScope } from '../../helpers/gitlab-errors.js';
import { agentFixture, kasJwt } from '../kubernetes-agent/_support.js';
import { appBody } from '../oauth-applications/_support.js';
import { adminDetailsEntity, adminEntity, basicEntity, personalNamespaceId, profileEntity, publicEntity } from './user-entities.js';

const NOW = '2026-11-22T10:00:00.000Z';
const ROOT = { id: 1, username: 'root', name: 'Administrator' };
const USER_NOT_FOUND = { message: '404 User Not Found' };

let app: TestApp;
let readRepository: string;

test.before(async () => {
  app = await startTestApp();
  readRepository = (await createUserWithToken(app, ['read_repository'])).plaintext;
});
test.after.always(async () => {
  await app?.close();
});

const userRow = (id: number) => app.db('directory_users').where({ id }).first();

// ---------------------------------------------------------------- GET /users/:id

test('GET /users/:id: anonymous callers get 403 "Not authorized!"', async (t) => {
  const response = await app.request('/api/v4/users/1');
  t.is(response.status, 403);
  t.deepEqual(response.body, { message: '403 Forbidden - Not authorized!' });
});

test('GET /users/:id: an unknown token is 401, a token without a read scope 403', async (t) => {
  const unknown = await app.request('/api/v4/users/1', { token: 'glpat-not-a-real-token-000000' });
  t.is(unknown.status, 401);
  t.deepEqual(unknown.body, UNAUTHORIZED);
  const scoped = await app.request('/api/v4/users/1', { token: readRepository });
  t.is(scoped.status, 403);
  t.deepEqual(scoped.body, insufficientScope('api read_api read_user'));
});

test('GET /users/:id with anything but digits is no route: GitLab\'s catch-all 404', async (t) => {
  for (const id of ['1ASDF', 'root', '-1']) {
    const response = await app.request(`/api/v4/users/${id}`, { token: ROOT_TOKEN });
    t.is(response.status, 404, id);
    t.deepEqual(response.body, { error: '404 Not Found' });
  }
});

test('GET /users/:id: an unknown user is 404 User Not Found', async (t) => {
  const { plaintext } = await createUserWithToken(app, ['read_user']);
  for (const token of [plaintext, ROOT_TOKEN]) {
    const response = await app.request('/api/v4/users/99999999', { token });
    t.is(response.status, 404);
    t.deepEqual(response.body, USER_NOT_FOUND);
  }
});

test('GET /users/:id: a non-admin sees the profile entity, a blocked user\'s without the profile-only fields', async (t) => {
  const viewer = await createUserWithToken(app, ['read_api']);
  const target = await createUserWithToken(app, ['api']);
  await app.services.directory.users.update(target.user, { publicEmail: target.user.email });

  const shown = await app.request(`/api/v4/users/${target.user.id}`, { token: viewer.plaintext });
  t.is(shown.status, 200);
  t.deepEqual(shown.body, profileEntity(target.user, NOW, { public_email: target.user.email }));

  await app.services.directory.users.setState(target.user, 'blocked');
  const blocked = await app.request(`/api/v4/users/${target.user.id}`, { token: viewer.plaintext });
  t.is(blocked.status, 200);
  const { created_at: _c, followers: _f, following: _g, is_followed: _i, ...withoutProfile } = profileEntity(target.user, NOW, {
    public_email: target.user.email,
    state: 'blocked',
  });
  t.deepEqual(blocked.body, withoutProfile);
});

test('GET /users/:id: an admin sees the details entity, with the highest role and the creator', async (t) => {
  const owner = await createUserWithToken(app, ['api']);
  const created = await app.request('/api/v4/users', {
    method: 'POST',
    token: ROOT_TOKEN,
    body: { username: `made_${Date.now()}`, name: 'Made', email: `made_${Date.now()}@example.com`, password: 'correct-horse-battery' },
  });
  t.is(created.status, 201);
  const user = created.body;
  const project = await app.request('/api/v4/projects', { method: 'POST', token: owner.plaintext, body: { name: `roles-${user.id}` } });
  await app.request(`/api/v4/projects/${project.body.id}/members`, { method: 'POST', token: owner.plaintext, body: { user_id: user.id, access_level: 40 } });

  const response = await app.request(`/api/v4/users/${user.id}`, { token: ROOT_TOKEN });
  t.is(response.status, 200);
  t.deepEqual(
    response.body,
    adminDetailsEntity(user, NOW, { namespaceId: await personalNamespaceId(app.db, user.id), createdBy: basicEntity(ROOT), highestRole: 40 }),
  );
});

test('GET /users/:id is limited to 300 reads per 10 minutes per user; admins are not limited', async (t) => {
  const { plaintext } = await createUserWithToken(app, ['read_user']);
  const admin = await createUserWithToken(app, ['read_user'], { admin: true });
  for (let i = 0; i < 300; i++) {
    const [user, asAdmin] = await Promise.all([app.request('/api/v4/users/1', { token: plaintext }), app.request('/api/v4/users/1', { token: admin.plaintext })]);
    if (user.status !== 200 || asAdmin.status !== 200) t.fail(`request ${i}: ${user.status} ${asAdmin.status}`);
  }
  const limited = await app.request('/api/v4/users/1', { token: plaintext });
  t.is(limited.status, 429);
  t.deepEqual(limited.body, { message: { error: 'This endpoint has been requested too many times. Try again later.' } });
  t.is(limited.headers.get('retry-after'), '600');
  t.is((await app.request('/api/v4/users/1', { token: admin.plaintext })).status, 200);
});

// ---------------------------------------------------------------- GET /user

test('GET /user shows a user the public entity and an admin the admin entity', async (t) => {
  const { user, plaintext } = await createUserWithToken(app, ['read_user']);
  const self = await app.request('/api/v4/user', { token: plaintext });
  t.is(self.status, 200);
  t.deepEqual(self.body, publicEntity(user, NOW));

  const admin = await createUserWithToken(app, ['read_user'], { admin: true });
  const adminSelf = await app.request('/api/v4/user', { token: admin.plaintext });
  t.deepEqual(adminSelf.body, adminEntity(admin.user, NOW, { namespaceId: await personalNamespaceId(app.db, admin.user.id) }, { is_admin: true }));
});

// ---------------------------------------------------------------- POST / PUT keep the profile fields

test('POST /users keeps public_email, external and note, and records the creating admin', async (t) => {
  const username = `kept_${Math.random().toString(36).slice(2, 8)}`;
  const response = await app.request('/api/v4/users', {
    method: 'POST',
    token: ROOT_TOKEN,
    body: {
      username,
      name: 'Kept',
      email: `${username}@example.com`,
      password: 'correct-horse-battery',
      public_email: `${username}@example.com`,
      external: true,
      note: 'contractor',
    },
  });
  t.is(response.status, 201);
  const user = response.body;
  t.deepEqual(
    user,
    adminEntity(
      { id: user.id, username, name: 'Kept', email: `${username}@example.com` },
      NOW,
      { namespaceId: await personalNamespaceId(app.db, user.id), createdBy: basicEntity(ROOT) },
      { public_email: `${username}@example.com`, external: true, note: 'contractor' },
    ),
  );
  t.like(await userRow(user.id), { public_email: `${username}@example.com`, note: 'contractor', created_by_id: 1 });
  t.true(Boolean((await userRow(user.id)).external));

  // The public email is what everyone sees.
  const { plaintext } = await createUserWithToken(app, ['read_user']);
  const listed = await app.request(`/api/v4/users?username=${username}`, { token: plaintext });
  t.is(listed.body[0].public_email, `${username}@example.com`);
});

test('PUT /users/:id changes public_email, external and note; a blank public email clears it', async (t) => {
  const { user } = await createUserWithToken(app, ['api']);
  const path = `/api/v4/users/${user.id}`;
  const set = await app.request(path, { method: 'PUT', token: ROOT_TOKEN, body: { public_email: user.email, external: 'true', note: 'audited' } });
  t.is(set.status, 200);
  t.like(set.body, { public_email: user.email, external: true, note: 'audited' });
  t.like(await userRow(user.id), { public_email: user.email, note: 'audited' });

  const cleared = await app.request(path, { method: 'PUT', token: ROOT_TOKEN, body: { public_email: '', external: false } });
  t.is(cleared.status, 200);
  t.like(cleared.body, { public_email: null, external: false, note: 'audited' });
  t.is((await userRow(user.id)).public_email, null);

  const bad = await app.request(path, { method: 'PUT', token: ROOT_TOKEN, body: { external: 'sometimes' } });
  t.is(bad.status, 400);
  t.deepEqual(bad.body, { error: 'external is invalid' });
});

// ---------------------------------------------------------------- DELETE /users/:id takes everything with it

test('DELETE /users/:id removes the user\'s keys, tokens, memberships, applications, projects and their agents at once', async (t) => {
  const fixture = await agentFixture(app);
  const { user, plaintext } = fixture.maintainer;
  const key = await app.request('/api/v4/user/keys', { method: 'POST', token: plaintext, body: { title: 'laptop', key: makeEd25519Key().line } });
  t.is(key.status, 201);
  const application = await app.request('/api/v4/user/applications', { method: 'POST', token: plaintext, body: appBody() });
  t.is(application.status, 201);
  const other = await createUserWithToken(app, ['api']);
  const group = await app.request('/api/v4/groups', { method: 'POST', token: other.plaintext, body: { name: `g${user.id}`, path: `g${user.id}` } });
  t.is(group.status, 201);
  const member = await app.request(`/api/v4/groups/${group.body.id}/members`, { method: 'POST', token: other.plaintext, body: { user_id: user.id, access_level: 30 } });
  t.is(member.status, 201);
  const namespaceId = await personalNamespaceId(app.db, user.id);

  // Warm every cache the user's credentials go through.
  t.is((await app.request('/api/v4/user', { token: plaintext })).status, 200);
  const jwt = await kasJwt(app);
  const agentInfo = () => app.request('/api/v4/internal/kubernetes/agent_info', { headers: { 'Gitlab-Kas-Api-Request': jwt, Authorization: `Bearer ${fixture.agentToken}` } });
  t.is((await agentInfo()).status, 200);

  const response = await app.request(`/api/v4/users/${user.id}`, { method: 'DELETE', token: ROOT_TOKEN });
  t.is(response.status, 204);

  t.is(await userRow(user.id), undefined);
  t.deepEqual(await app.db('directory_ssh_keys').where({ user_id: user.id }), []);
  t.deepEqual(await app.db('tokens_personal_access_tokens').where({ user_id: user.id }), []);
  t.deepEqual(await app.db('directory_members').where({ user_id: user.id }), []);
  t.deepEqual(await app.db('directory_recovery_codes').where({ user_id: user.id }), []);
  t.deepEqual(await app.db('oauth_applications').where({ owner_id: user.id }), []);
  t.deepEqual(await app.db('directory_namespaces').where({ id: namespaceId }), []);
  t.deepEqual(await app.db('directory_projects').where({ id: fixture.project.id }), []);
  t.deepEqual(await app.db('kubernetes_agents').where({ id: fixture.agent.id }), []);
  t.deepEqual(await app.db('kubernetes_agent_tokens').where({ agent_id: fixture.agent.id }), []);
  // What others own is theirs still.
  t.truthy(await app.db('directory_namespaces').where({ id: group.body.id }).first());

  // The very next requests see it: the token and the agent token are gone.
  const after = await app.request('/api/v4/user', { token: plaintext });
  t.is(after.status, 401);
  t.deepEqual(after.body, UNAUTHORIZED);
  t.is((await agentInfo()).status, 401);
  const shown = await app.request(`/api/v4/users/${user.id}`, { token: ROOT_TOKEN });
  t.deepEqual(shown.body, USER_NOT_FOUND);
  const keys = await app.request(`/api/v4/users/${user.id}/keys`, { token: ROOT_TOKEN });
  t.deepEqual(keys.body, USER_NOT_FOUND);
});

test('DELETE /users/:id honours If-Unmodified-Since: 412 when the user changed after it, 204 otherwise', async (t) => {
  const { user } = await createUserWithToken(app, ['api']);
  const path = `/api/v4/users/${user.id}`;
  const stale = await app.request(path, { method: 'DELETE', token: ROOT_TOKEN, headers: { 'If-Unmodified-Since': new Date(Date.parse(NOW) - 1000).toUTCString() } });
  t.is(stale.status, 412);
  t.deepEqual(stale.body, { message: '412 Precondition Failed' });
  t.truthy(await userRow(user.id));
  const current = await app.request(path, { method: 'DELETE', token: ROOT_TOKEN, headers: { 'If-Unmodified-Since': new Date(NOW).toUTCString() } });
  t.is(current.status, 204);
  t.is(await userRow(user.id), undefined);
});

test('DELETE /users/:id: a user created by the deleted admin keeps existing, with no creator', async (t) => {
  const admin = await createUserWithToken(app, ['api'], { admin: true });
  const username = `orphan_${Math.random().toString(36).slice(2, 8)}`;
  const created = await app.request('/api/v4/users', {
    method: 'POST',
    token: admin.plaintext,
    body: { username, name: 'Orphan', email: `${username}@example.com`, password: 'correct-horse-battery' },
  });
  t.like(created.body.created_by, { id: admin.user.id });
  t.is((await app.request(`/api/v4/users/${admin.user.id}`, { method: 'DELETE', token: ROOT_TOKEN })).status, 204);
  const shown = await app.request(`/api/v4/users/${created.body.id}`, { token: ROOT_TOKEN });
  t.is(shown.status, 200);
  t.is(shown.body.created_by, null);
});

test('DELETE /users/:id removes their personal projects as a project deletion does: other members and deploy keys only they used go too', async (t) => {
  const owner = await createUserWithToken(app, ['api']);
  const other = await createUserWithToken(app, ['api']);
  const project = await app.request('/api/v4/projects', { method: 'POST', token: owner.plaintext, body: { name: `personal-${owner.user.id}` } });
  t.is(project.status, 201, project.text);
  const member = await app.request(`/api/v4/projects/${project.body.id}/members`, { method: 'POST', token: owner.plaintext, body: { user_id: other.user.id, access_level: 30 } });
  t.is(member.status, 201, member.text);
  const deployKey = await app.request(`/api/v4/projects/${project.body.id}/deploy_keys`, { method: 'POST', token: owner.plaintext, body: { title: 'ci', key: makeEd25519Key().line } });
  t.is(deployKey.status, 201, deployKey.text);

  const response = await app.request(`/api/v4/users/${owner.user.id}`, { method: 'DELETE', token: ROOT_TOKEN });
  t.is(response.status, 204);

  t.deepEqual(await app.db('directory_projects').where({ id: project.body.id }), []);
  t.deepEqual(await app.db('directory_members').where({ source_type: 'project', source_id: project.body.id }), []);
  t.deepEqual(await app.db('directory_deploy_keys_projects').where({ project_id: project.body.id }), []);
  t.deepEqual(await app.db('directory_ssh_keys').where({ id: deployKey.body.id }), []);
  // The other member is a user still, and is shown no trace of the project.
  t.truthy(await userRow(other.user.id));
  const projects = await app.request('/api/v4/projects?membership=true', { token: other.plaintext });
  t.is(projects.status, 200);
  t.deepEqual(projects.body, []);
});
