import test from 'ava';
import { startTestApp, ROOT_TOKEN, type TestApp } from '../../helpers/app.js';
import { makeEd25519Key } from '../../helpers/ssh-keys.js';
import { FORBIDDEN, UNAUTHORIZED, insufficientScope } from '../../helpers/gitlab-errors.js';
import { agentWithToken, newUser, post, unique } from './deletion-fixtures.js';

const DAY = 86_400_000;
const ACCEPTED = { message: '202 Accepted' };
const PROJECT_NOT_FOUND = { message: '404 Project Not Found' };

let app: TestApp;
test.before(async () => {
  app = await startTestApp({ config: { plugins: { directory: { deletionSweepIntervalMs: 0, deletionRetentionDays: 3 } } } });
});
test.after.always(async () => {
  await app?.close();
});

/** A personal project with a maintainer, a developer, two deploy keys (one shared with another project) and an agent. */
async function populatedProject() {
  const owner = await newUser(app);
  const maintainer = await newUser(app);
  const developer = await newUser(app);
  const path = unique('doomed');
  const project = await post(app, '/api/v4/projects', owner.token, { path });
  const other = await post(app, '/api/v4/projects', owner.token, { path: unique('other') });
  await post(app, `/api/v4/projects/${project.id}/members`, owner.token, { user_id: maintainer.id, access_level: 40 });
  await post(app, `/api/v4/projects/${project.id}/members`, owner.token, { user_id: developer.id, access_level: 30 });
  const own = await post(app, `/api/v4/projects/${project.id}/deploy_keys`, owner.token, { title: 'own', key: makeEd25519Key().line });
  const sharedLine = makeEd25519Key().line;
  const shared = await post(app, `/api/v4/projects/${project.id}/deploy_keys`, owner.token, { title: 'shared', key: sharedLine });
  await post(app, `/api/v4/projects/${other.id}/deploy_keys`, owner.token, { title: 'shared', key: sharedLine });
  const { agent, agentToken } = await agentWithToken(app, owner, project.id);
  return { owner, maintainer, developer, path, project, other, own, shared, agent, agentToken };
}

async function assertRemoved(t: any, fixture: Awaited<ReturnType<typeof populatedProject>>) {
  const { project, own, shared, other, agent } = fixture;
  t.is(await app.db('directory_projects').where({ id: project.id }).first(), undefined);
  t.is((await app.db('directory_members').where({ source_type: 'project', source_id: project.id })).length, 0);
  t.is((await app.db('directory_deploy_keys_projects').where({ project_id: project.id })).length, 0);
  // A deploy key no other project uses goes with the project; a shared one stays for the other.
  t.is(await app.db('directory_ssh_keys').where({ id: own.id }).first(), undefined);
  t.truthy(await app.db('directory_ssh_keys').where({ id: shared.id }).first());
  t.is((await app.db('directory_deploy_keys_projects').where({ project_id: other.id })).length, 1);
  t.is((await app.db('kubernetes_agents').where({ id: agent.id })).length, 0);
  t.is((await app.db('kubernetes_agent_tokens').where({ agent_id: agent.id })).length, 0);
  t.is(await app.services['kubernetes-agent'].agents.authenticateAgent(fixture.agentToken), undefined);
  const gone = await app.request(`/api/v4/projects/${project.id}`, { token: ROOT_TOKEN });
  t.is(gone.status, 404);
  t.deepEqual(gone.body, PROJECT_NOT_FOUND);
}

test('DELETE /projects/:id: no credentials → 401; read_api → 403 insufficient_scope', async (t) => {
  const anonymous = await app.request('/api/v4/projects/1', { method: 'DELETE' });
  t.is(anonymous.status, 401);
  t.deepEqual(anonymous.body, UNAUTHORIZED);
  const reader = await newUser(app, ['read_api']);
  const scoped = await app.request('/api/v4/projects/1', { method: 'DELETE', token: reader.token });
  t.is(scoped.status, 403);
  t.deepEqual(scoped.body, insufficientScope('api'));
});

test('DELETE /projects/:id: invisible → 404; maintainers and developers → 403; bad params → 400', async (t) => {
  const { project, maintainer, developer, owner } = await populatedProject();
  const outsider = await newUser(app);
  const hidden = await app.request(`/api/v4/projects/${project.id}`, { method: 'DELETE', token: outsider.token });
  t.is(hidden.status, 404);
  t.deepEqual(hidden.body, PROJECT_NOT_FOUND);
  for (const user of [maintainer, developer]) {
    const forbidden = await app.request(`/api/v4/projects/${project.id}`, { method: 'DELETE', token: user.token });
    t.is(forbidden.status, 403);
    t.deepEqual(forbidden.body, FORBIDDEN);
  }
  const bad = await app.request(`/api/v4/projects/${project.id}?permanently_remove=perhaps`, { method: 'DELETE', token: owner.token });
  t.is(bad.status, 400);
  t.deepEqual(bad.body, { error: 'permanently_remove is invalid' });
});

test('DELETE /projects/:id marks the project for deletion: 202, renamed, shown with the mark', async (t) => {
  const { owner, project, path } = await populatedProject();
  t.is((await app.request(`/api/v4/projects/${encodeURIComponent(`${owner.username}/${path}`)}`, { token: owner.token })).status, 200);
  const response = await app.request(`/api/v4/projects/${project.id}`, { method: 'DELETE', token: owner.token });
  t.is(response.status, 202);
  t.deepEqual(response.body, ACCEPTED);
  const renamed = `${path}-deletion_scheduled-${project.id}`;
  const row = await app.db('directory_projects').where({ id: project.id }).first();
  t.like(row, { name: renamed, path: renamed, full_path: `${owner.username}/${renamed}` });
  t.truthy(row.marked_for_deletion_at);
  const shown = await app.request(`/api/v4/projects/${project.id}`, { token: owner.token });
  t.like(shown.body, { path: renamed, marked_for_deletion_at: '2026-11-22', marked_for_deletion_on: '2026-11-22' });
  t.is((await app.request(`/api/v4/projects/${encodeURIComponent(`${owner.username}/${path}`)}`, { token: owner.token })).status, 404);
  const again = await app.request(`/api/v4/projects/${project.id}`, { method: 'DELETE', token: owner.token });
  t.is(again.status, 400);
  t.deepEqual(again.body, { message: 'Project has already been marked for deletion' });
});

test('DELETE /projects/:id in a group marked for deletion: 202 and no change', async (t) => {
  const owner = await newUser(app);
  const group = await post(app, '/api/v4/groups', owner.token, { name: 'G', path: unique('g') });
  const project = await post(app, '/api/v4/projects', owner.token, { path: 'p', namespace_id: group.id });
  await app.request(`/api/v4/groups/${group.id}`, { method: 'DELETE', token: owner.token });
  const before = await app.db('directory_projects').where({ id: project.id }).first();
  const response = await app.request(`/api/v4/projects/${project.id}`, { method: 'DELETE', token: owner.token });
  t.is(response.status, 202);
  t.deepEqual(await app.db('directory_projects').where({ id: project.id }).first(), before);
});

test('DELETE /projects/:id?permanently_remove: unmarked → 400; wrong full_path → 400; then removed with all that hangs off it', async (t) => {
  const fixture = await populatedProject();
  const { owner, project, path } = fixture;
  const unmarked = await app.request(`/api/v4/projects/${project.id}?permanently_remove=true`, { method: 'DELETE', token: owner.token });
  t.is(unmarked.status, 400);
  t.deepEqual(unmarked.body, { message: 'Project must be marked for deletion first.' });
  await app.request(`/api/v4/projects/${project.id}`, { method: 'DELETE', token: owner.token });
  const wrong = await app.request(`/api/v4/projects/${project.id}?permanently_remove=true&full_path=${owner.username}/${path}`, { method: 'DELETE', token: owner.token });
  t.is(wrong.status, 400);
  t.deepEqual(wrong.body, { message: '`full_path` is incorrect. You must enter the complete path for the project.' });
  const fullPath = `${owner.username}/${path}-deletion_scheduled-${project.id}`;
  const removed = await app.request(`/api/v4/projects/${project.id}?permanently_remove=true&full_path=${encodeURIComponent(fullPath)}`, { method: 'DELETE', token: owner.token });
  t.is(removed.status, 202);
  t.deepEqual(removed.body, ACCEPTED);
  await assertRemoved(t, fixture);
});

// Serial: it moves the clock every test of this file reads (AVA runs serial tests first).
test.serial('a marked project is removed for good once the retention period has passed', async (t) => {
  const fixture = await populatedProject();
  await app.request(`/api/v4/projects/${fixture.project.id}`, { method: 'DELETE', token: ROOT_TOKEN });
  const start = app.clock.now();
  try {
    app.clock.advance(3 * DAY - 1);
    await app.services.directory.purgeDueDeletions();
    t.truthy(await app.db('directory_projects').where({ id: fixture.project.id }).first());
    app.clock.advance(1);
    await app.services.directory.purgeDueDeletions();
    await assertRemoved(t, fixture);
  } finally {
    app.clock.set(start);
  }
});

test('POST /projects/:id/restore takes the mark off and gives the project its name and path back', async (t) => {
  const { owner, maintainer, project, path } = await populatedProject();
  const unmarked = await app.request(`/api/v4/projects/${project.id}/restore`, { method: 'POST', token: owner.token });
  t.is(unmarked.status, 400);
  t.deepEqual(unmarked.body, { message: 'Project has not been marked for deletion' });
  await app.request(`/api/v4/projects/${project.id}`, { method: 'DELETE', token: owner.token });
  const forbidden = await app.request(`/api/v4/projects/${project.id}/restore`, { method: 'POST', token: maintainer.token });
  t.is(forbidden.status, 403);
  t.deepEqual(forbidden.body, FORBIDDEN);
  const restored = await app.request(`/api/v4/projects/${project.id}/restore`, { method: 'POST', token: owner.token });
  t.is(restored.status, 201);
  t.like(restored.body, { id: project.id, name: path, path, path_with_namespace: `${owner.username}/${path}`, marked_for_deletion_on: null });
  t.like(await app.db('directory_projects').where({ id: project.id }).first(), { path, marked_for_deletion_at: null });
});
