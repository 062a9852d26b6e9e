import test from 'ava';
import { startTestApp, ROOT_TOKEN, type TestApp } from '../../helpers/app.js';
import { makeEd25519Key } from '../../helpers/ssh-keys.js';
import { FORBIDDEN, UNAUTHORIZED, insufficientScope } from '../../helpers/gitlab-errors.js';
import { agentWithToken, newUser, post, unique } from './deletion-fixtures.js';

const DAY = 86_400_000;
const ACCEPTED = { message: '202 Accepted' };
const GROUP_NOT_FOUND = { message: '404 Group Not Found' };

let app: TestApp;
test.before(async () => {
  // The sweep is run by hand here, after moving the clock.
  app = await startTestApp({ config: { plugins: { directory: { deletionSweepIntervalMs: 0, deletionRetentionDays: 7 } } } });
});
test.after.always(async () => {
  await app?.close();
});

/**
 * A group with a subgroup, a project in each, a member, a deploy key on the nested project and a
 * Kubernetes agent with a token there.
 */
async function populatedGroup() {
  const owner = await newUser(app);
  const member = await newUser(app);
  const path = unique('doomed');
  const group = await post(app, '/api/v4/groups', owner.token, { name: 'Doomed', path });
  const sub = await post(app, '/api/v4/groups', owner.token, { name: 'Sub', path: 'sub', parent_id: group.id });
  const top = await post(app, '/api/v4/projects', owner.token, { path: 'top', namespace_id: group.id });
  const nested = await post(app, '/api/v4/projects', owner.token, { path: 'nested', namespace_id: sub.id });
  await post(app, `/api/v4/groups/${group.id}/members`, owner.token, { user_id: member.id, access_level: 30 });
  await post(app, `/api/v4/projects/${nested.id}/members`, owner.token, { user_id: member.id, access_level: 40 });
  const deployKey = await post(app, `/api/v4/projects/${nested.id}/deploy_keys`, owner.token, { title: 'ci', key: makeEd25519Key().line });
  const { agent, agentToken } = await agentWithToken(app, owner, nested.id);
  return { owner, member, path, group, sub, top, nested, deployKey, agent, agentToken };
}

/** Whether anything of a populated group is left in the database. */
async function leftovers(fixture: Awaited<ReturnType<typeof populatedGroup>>) {
  const namespaceIds = [fixture.group.id, fixture.sub.id];
  const projectIds = [fixture.top.id, fixture.nested.id];
  const count = async (query: any) => Number((await query.count({ n: '*' }).first()).n);
  return {
    namespaces: await count(app.db('directory_namespaces').whereIn('id', namespaceIds)),
    projects: await count(app.db('directory_projects').whereIn('id', projectIds)),
    members: await count(
      app.db('directory_members').where((q) =>
        q.where((i) => i.where('source_type', 'namespace').whereIn('source_id', namespaceIds)).orWhere((i) => i.where('source_type', 'project').whereIn('source_id', projectIds)),
      ),
    ),
    deployKeys: await count(app.db('directory_ssh_keys').where({ id: fixture.deployKey.id })),
    deployKeyLinks: await count(app.db('directory_deploy_keys_projects').whereIn('project_id', projectIds)),
    agents: await count(app.db('kubernetes_agents').whereIn('project_id', projectIds)),
    agentTokens: await count(app.db('kubernetes_agent_tokens').where({ agent_id: fixture.agent.id })),
  };
}

const NOTHING_LEFT = { namespaces: 0, projects: 0, members: 0, deployKeys: 0, deployKeyLinks: 0, agents: 0, agentTokens: 0 };

// ---------------------------------------------------------------- matrix

test('DELETE /groups/:id: no credentials → 401; read_api → 403 insufficient_scope', async (t) => {
  const anonymous = await app.request('/api/v4/groups/1', { method: 'DELETE' });
  t.is(anonymous.status, 401);
  t.deepEqual(anonymous.body, UNAUTHORIZED);
  const reader = await newUser(app, ['read_api']);
  const scoped = await app.request('/api/v4/groups/1', { method: 'DELETE', token: reader.token });
  t.is(scoped.status, 403);
  t.deepEqual(scoped.body, insufficientScope('api'));
});

test('DELETE /groups/:id: invisible → 404; a maintainer → 403; bad params → 400', async (t) => {
  const { owner, group, member } = await populatedGroup();
  const outsider = await newUser(app);
  const hidden = await app.request(`/api/v4/groups/${group.id}`, { method: 'DELETE', token: outsider.token });
  t.is(hidden.status, 404);
  t.deepEqual(hidden.body, GROUP_NOT_FOUND);
  const maintainer = await newUser(app);
  await post(app, `/api/v4/groups/${group.id}/members`, owner.token, { user_id: maintainer.id, access_level: 40 });
  for (const token of [maintainer.token, member.token]) {
    const forbidden = await app.request(`/api/v4/groups/${group.id}`, { method: 'DELETE', token });
    t.is(forbidden.status, 403);
    t.deepEqual(forbidden.body, FORBIDDEN);
  }
  const bad = await app.request(`/api/v4/groups/${group.id}?permanently_remove=sure`, { method: 'DELETE', token: owner.token });
  t.is(bad.status, 400);
  t.deepEqual(bad.body, { error: 'permanently_remove is invalid' });
  t.is((await app.db('directory_namespaces').where({ id: group.id }).first()).marked_for_deletion_at, null);
});

// ---------------------------------------------------------------- marking

test('DELETE /groups/:id marks the group for deletion: 202, renamed with its subtree, still listed', async (t) => {
  const fixture = await populatedGroup();
  const { owner, group, sub, nested, path } = fixture;
  // Read through the caches first, so the answers below prove they were dropped.
  t.is((await app.request(`/api/v4/projects/${encodeURIComponent(`${path}/sub/nested`)}`, { token: owner.token })).status, 200);

  const response = await app.request(`/api/v4/groups/${group.id}`, { method: 'DELETE', token: owner.token });
  t.is(response.status, 202);
  t.deepEqual(response.body, ACCEPTED);

  const renamed = `${path}-deletion_scheduled-${group.id}`;
  const row = await app.db('directory_namespaces').where({ id: group.id }).first();
  t.like(row, { name: `Doomed-deletion_scheduled-${group.id}`, path: renamed, full_path: renamed, full_path_lower: renamed.toLowerCase() });
  t.truthy(row.marked_for_deletion_at);
  t.like(await app.db('directory_namespaces').where({ id: sub.id }).first(), { full_path: `${renamed}/sub`, marked_for_deletion_at: null });
  t.like(await app.db('directory_projects').where({ id: nested.id }).first(), { full_path: `${renamed}/sub/nested` });

  const shown = await app.request(`/api/v4/groups/${group.id}`, { token: owner.token });
  t.like(shown.body, { full_path: renamed, marked_for_deletion_on: '2026-11-22' });
  const oldPath = await app.request(`/api/v4/projects/${encodeURIComponent(`${path}/sub/nested`)}`, { token: owner.token });
  t.is(oldPath.status, 404);
  const newPath = await app.request(`/api/v4/projects/${encodeURIComponent(`${renamed}/sub/nested`)}`, { token: owner.token });
  t.is(newPath.status, 200);
  const listed = await app.request(`/api/v4/groups?search=${renamed}`, { token: owner.token });
  t.deepEqual(
    listed.body.map((g: { id: number }) => g.id),
    [group.id, sub.id],
  );

  const again = await app.request(`/api/v4/groups/${group.id}`, { method: 'DELETE', token: owner.token });
  t.is(again.status, 400);
  t.deepEqual(again.body, { message: 'Group has already been marked for deletion' });
  // Nothing was removed yet.
  t.like(await leftovers(fixture), { namespaces: 2, projects: 2, agents: 1, agentTokens: 1 });
});

test('DELETE /groups/:id on a subgroup of a marked group: 202 and no change', async (t) => {
  const { owner, group, sub } = await populatedGroup();
  await app.request(`/api/v4/groups/${group.id}`, { method: 'DELETE', token: owner.token });
  const before = await app.db('directory_namespaces').where({ id: sub.id }).first();
  const response = await app.request(`/api/v4/groups/${sub.id}`, { method: 'DELETE', token: owner.token });
  t.is(response.status, 202);
  t.deepEqual(response.body, ACCEPTED);
  t.deepEqual(await app.db('directory_namespaces').where({ id: sub.id }).first(), before);
});

// ---------------------------------------------------------------- permanently_remove

test('DELETE /groups/:id?permanently_remove: top-level → 400; unmarked → 400; wrong full_path → 400', async (t) => {
  const { owner, group, sub, path } = await populatedGroup();
  const top = await app.request(`/api/v4/groups/${group.id}?permanently_remove=true&full_path=${path}`, { method: 'DELETE', token: owner.token });
  t.is(top.status, 400);
  t.deepEqual(top.body, { message: '`permanently_remove` option is only available for subgroups.' });
  const unmarked = await app.request(`/api/v4/groups/${sub.id}?permanently_remove=true`, { method: 'DELETE', token: owner.token });
  t.is(unmarked.status, 400);
  t.deepEqual(unmarked.body, { message: 'Group must be marked for deletion first.' });
  t.is((await app.request(`/api/v4/groups/${sub.id}`, { method: 'DELETE', token: owner.token })).status, 202);
  const wrong = await app.request(`/api/v4/groups/${sub.id}?permanently_remove=true&full_path=${path}/sub`, { method: 'DELETE', token: owner.token });
  t.is(wrong.status, 400);
  t.deepEqual(wrong.body, { message: '`full_path` is incorrect. You must enter the complete path for the subgroup.' });
});

test('DELETE /groups/:id?permanently_remove removes a marked subgroup with everything in it, at once', async (t) => {
  const fixture = await populatedGroup();
  const { owner, sub, nested, path } = fixture;
  t.is((await app.request(`/api/v4/projects/${nested.id}`, { token: owner.token })).status, 200);
  t.truthy(await app.services['kubernetes-agent'].agents.authenticateAgent(fixture.agentToken));
  await app.request(`/api/v4/groups/${sub.id}`, { method: 'DELETE', token: owner.token });
  const fullPath = `${path}/sub-deletion_scheduled-${sub.id}`;
  const response = await app.request(`/api/v4/groups/${sub.id}?permanently_remove=true&full_path=${encodeURIComponent(fullPath)}`, {
    method: 'DELETE',
    token: owner.token,
  });
  t.is(response.status, 202);
  t.deepEqual(response.body, ACCEPTED);
  t.is(await app.db('directory_namespaces').where({ id: sub.id }).first(), undefined);
  t.is(await app.db('directory_projects').where({ id: nested.id }).first(), undefined);
  t.is((await app.db('kubernetes_agents').where({ id: fixture.agent.id })).length, 0);
  t.is((await app.db('kubernetes_agent_tokens').where({ agent_id: fixture.agent.id })).length, 0);
  t.is(await app.db('directory_ssh_keys').where({ id: fixture.deployKey.id }).first(), undefined);
  t.is((await app.db('directory_members').where({ source_type: 'project', source_id: nested.id })).length, 0);
  // The parent and its project stay.
  t.truthy(await app.db('directory_projects').where({ id: fixture.top.id }).first());
  // Caches saw it at once.
  const gone = await app.request(`/api/v4/projects/${nested.id}`, { token: owner.token });
  t.is(gone.status, 404);
  t.deepEqual(gone.body, { message: '404 Project Not Found' });
  t.is(await app.services['kubernetes-agent'].agents.authenticateAgent(fixture.agentToken), undefined);
});

// ---------------------------------------------------------------- retention

// Serial: it moves the clock every test of this file reads (AVA runs serial tests first).
test.serial('a marked group is removed for good once the retention period has passed', async (t) => {
  const fixture = await populatedGroup();
  const { owner, group } = fixture;
  t.is((await app.request(`/api/v4/groups/${group.id}`, { method: 'DELETE', token: owner.token })).status, 202);
  const clock = app.clock;
  const start = clock.now();
  try {
    clock.advance(7 * DAY - 1000);
    await app.services.directory.purgeDueDeletions();
    t.like(await leftovers(fixture), { namespaces: 2, projects: 2 });
    clock.advance(1000);
    await app.services.directory.purgeDueDeletions();
    t.deepEqual(await leftovers(fixture), NOTHING_LEFT);
    const gone = await app.request(`/api/v4/groups/${group.id}`, { token: ROOT_TOKEN });
    t.is(gone.status, 404);
    t.deepEqual(gone.body, GROUP_NOT_FOUND);
  } finally {
    clock.set(start);
  }
});

// ---------------------------------------------------------------- restore

test('POST /groups/:id/restore takes the mark off and gives the group its paths back', async (t) => {
  const { owner, group, sub, nested, path, member } = await populatedGroup();
  const unmarked = await app.request(`/api/v4/groups/${group.id}/restore`, { method: 'POST', token: owner.token });
  t.is(unmarked.status, 400);
  t.deepEqual(unmarked.body, { message: 'Group has not been marked for deletion' });
  await app.request(`/api/v4/groups/${group.id}`, { method: 'DELETE', token: owner.token });
  const forbidden = await app.request(`/api/v4/groups/${group.id}/restore`, { method: 'POST', token: member.token });
  t.is(forbidden.status, 403);
  t.deepEqual(forbidden.body, FORBIDDEN);
  const anonymous = await app.request(`/api/v4/groups/${group.id}/restore`, { method: 'POST' });
  t.is(anonymous.status, 401);
  const restored = await app.request(`/api/v4/groups/${group.id}/restore`, { method: 'POST', token: owner.token });
  t.is(restored.status, 201);
  t.like(restored.body, { id: group.id, name: 'Doomed', path, full_path: path, marked_for_deletion_on: null });
  t.like(await app.db('directory_namespaces').where({ id: group.id }).first(), { name: 'Doomed', path, full_path: path, marked_for_deletion_at: null });
  t.like(await app.db('directory_namespaces').where({ id: sub.id }).first(), { full_path: `${path}/sub` });
  t.is((await app.request(`/api/v4/projects/${encodeURIComponent(`${path}/sub/nested`)}`, { token: owner.token })).body.id, nested.id);
});

test('POST /groups/:id/restore keeps the scheduled path when the old one was taken meanwhile', async (t) => {
  const { owner, group, path } = await populatedGroup();
  await app.request(`/api/v4/groups/${group.id}`, { method: 'DELETE', token: owner.token });
  await post(app, '/api/v4/groups', owner.token, { name: 'Usurper', path });
  const restored = await app.request(`/api/v4/groups/${group.id}/restore`, { method: 'POST', token: owner.token });
  t.is(restored.status, 201);
  t.like(restored.body, { name: 'Doomed', path: `${path}-deletion_scheduled-${group.id}`, marked_for_deletion_on: null });
});
