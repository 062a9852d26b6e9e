import test from 'ava';
import { ROOT_TOKEN, startTestApp, type TestApp } from '../../helpers/app.js';
import { createUser } from '../../helpers/fixtures.js';
import { FORBIDDEN, TOKENS, post, userWithToken } from './_support.js';

// Who may use Code Suggestions is a directory setting: the personal namespace's switch is set through
// the admin user API (`code_suggestions`), a group's through `PUT /groups/:id`.

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

const personalNamespace = (userId: number) => app.db('directory_namespaces').where({ kind: 'user', owner_id: userId }).first();

test('admin user API: code_suggestions on POST /users and PUT /users/:id sets the personal namespace\'s switch', async (t) => {
  const created = await createUser(app, { code_suggestions: false });
  t.false(Boolean((await personalNamespace(created.id)).code_suggestions));
  const updated = await app.request(`/api/v4/users/${created.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { code_suggestions: true } });
  t.is(updated.status, 200);
  t.true(Boolean((await personalNamespace(created.id)).code_suggestions));
  const unchanged = await app.request(`/api/v4/users/${created.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { name: 'Renamed' } });
  t.is(unchanged.status, 200);
  t.true(Boolean((await personalNamespace(created.id)).code_suggestions), 'left alone when not given');
  const defaulted = await createUser(app);
  t.true(Boolean((await personalNamespace(defaulted.id)).code_suggestions), 'on by default');
});

test('admin user API: code_suggestions must be a boolean, and only admins set it', async (t) => {
  const created = await createUser(app);
  const invalid = await app.request(`/api/v4/users/${created.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { code_suggestions: 'maybe' } });
  t.is(invalid.status, 400);
  t.deepEqual(invalid.body, { error: 'code_suggestions is invalid' });
  const { plaintext } = await userWithToken(app);
  const notAdmin = await app.request(`/api/v4/users/${created.id}`, { method: 'PUT', token: plaintext, body: { code_suggestions: false } });
  t.is(notAdmin.status, 403);
  t.deepEqual(notAdmin.body, FORBIDDEN);
  t.true(Boolean((await personalNamespace(created.id)).code_suggestions));
});

test('access follows the directory at once: switching a user off and on again is seen by the next request', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  t.is((await post(app, TOKENS, { token: plaintext })).status, 201);
  await app.request(`/api/v4/users/${user.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { code_suggestions: false } });
  t.is((await post(app, TOKENS, { token: plaintext })).status, 401);
  await app.request(`/api/v4/users/${user.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { code_suggestions: true } });
  t.is((await post(app, TOKENS, { token: plaintext })).status, 201);
});

test('a parent group switched off switches its subgroups off for their members', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  await app.request(`/api/v4/users/${user.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { code_suggestions: false } });
  const parent = await app.request('/api/v4/groups', { method: 'POST', token: ROOT_TOKEN, body: { name: `P${user.id}`, path: `p-${user.id}` } });
  const child = await app.request('/api/v4/groups', { method: 'POST', token: ROOT_TOKEN, body: { name: 'C', path: 'c', parent_id: parent.body.id } });
  t.is(child.status, 201);
  await app.request(`/api/v4/groups/${child.body.id}/members`, { method: 'POST', token: ROOT_TOKEN, body: { user_id: user.id, access_level: 30 } });
  t.is((await post(app, TOKENS, { token: plaintext })).status, 201);
  await app.request(`/api/v4/groups/${parent.body.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { code_suggestions: false } });
  t.is((await post(app, TOKENS, { token: plaintext })).status, 401);
  t.deepEqual(await app.services.directory.projects.codeSuggestionsNamespaceIds(user.id), []);
});
