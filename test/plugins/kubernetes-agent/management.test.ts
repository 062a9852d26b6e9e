import test from 'ava';
import { startTestApp, ROOT_TOKEN, EXTERNAL_URL, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { FORBIDDEN, UNAUTHORIZED, insufficientScope } from '../../helpers/gitlab-errors.js';
import { agentFixture, PROJECT_NOT_FOUND, RECORD_NOT_FOUND, tokenRow } from './_support.js';

let app: TestApp;
let f: Awaited<ReturnType<typeof agentFixture>>;

test.before(async () => {
  app = await startTestApp();
  f = await agentFixture(app);
});
test.after.always(async () => {
  await app?.close();
});

const agentsPath = (projectRef: string | number = f.project.id) => `/api/v4/projects/${projectRef}/cluster_agents`;
const tokensPath = (agentId: number | string = f.agent.id, projectRef: string | number = f.project.id) => `${agentsPath(projectRef)}/${agentId}/tokens`;

/** GitLab's ProjectIdentity for the fixture's project, checked against directory's own project entity. */
async function configProject(project = f.project) {
  const shown = (await app.request(`/api/v4/projects/${project.id}`, { token: ROOT_TOKEN })).body;
  return {
    id: project.id,
    description: shown.description,
    name: project.name,
    name_with_namespace: shown.name_with_namespace,
    path: project.path,
    path_with_namespace: project.fullPath,
    created_at: shown.created_at,
  };
}

// ---------------------------------------------------------------- POST /projects/:id/cluster_agents

test('POST cluster_agents: 201 with GitLab\'s agent entity, the row stored; the project by URL-encoded path works too', async (t) => {
  const response = await app.request(agentsPath(), { method: 'POST', token: f.maintainer.plaintext, body: { name: 'production-cluster' } });
  t.is(response.status, 201, response.text);
  const row = await app.db('kubernetes_agents').where({ project_id: f.project.id, name: 'production-cluster' }).first();
  t.truthy(row);
  t.deepEqual(response.body, {
    id: row.id,
    name: 'production-cluster',
    config_project: await configProject(),
    created_at: app.clock.now().toISOString(),
    created_by_user_id: f.maintainer.user.id,
  });

  const byPath = await app.request(agentsPath(encodeURIComponent(f.project.fullPath)), { method: 'POST', token: f.maintainer.plaintext, form: { name: 'by-path' } });
  t.is(byPath.status, 201);
  t.is(byPath.body.config_project.id, f.project.id);
});

test('POST cluster_agents: no credentials 401, read_api 403 insufficient_scope, developer 403, outsider 404, unknown project 404', async (t) => {
  const body = { name: 'refused' };
  const none = await app.request(agentsPath(), { method: 'POST', body });
  t.is(none.status, 401);
  t.deepEqual(none.body, UNAUTHORIZED);

  const readApi = await createUserWithToken(app, ['read_api']);
  const scoped = await app.request(agentsPath(), { method: 'POST', token: readApi.plaintext, body });
  t.is(scoped.status, 403);
  t.deepEqual(scoped.body, insufficientScope('api'));

  const developer = await app.request(agentsPath(), { method: 'POST', token: f.developer.plaintext, body });
  t.is(developer.status, 403);
  t.deepEqual(developer.body, FORBIDDEN);

  const outsider = await app.request(agentsPath(), { method: 'POST', token: f.outsider.plaintext, body });
  t.is(outsider.status, 404);
  t.deepEqual(outsider.body, PROJECT_NOT_FOUND);

  const unknown = await app.request(agentsPath(999_999), { method: 'POST', token: ROOT_TOKEN, body });
  t.is(unknown.status, 404);
  t.deepEqual(unknown.body, PROJECT_NOT_FOUND);

  t.is(await app.db('kubernetes_agents').where({ name: 'refused' }).first(), undefined);
});

test('POST cluster_agents: an admin may register agents on any project', async (t) => {
  const response = await app.request(agentsPath(), { method: 'POST', token: ROOT_TOKEN, body: { name: 'admin-made' } });
  t.is(response.status, 201);
  t.is(response.body.created_by_user_id, 1);
});

test('POST cluster_agents: 400 name is missing; model errors as GitLab words them', async (t) => {
  const missing = await app.request(agentsPath(), { method: 'POST', token: f.maintainer.plaintext, body: {} });
  t.is(missing.status, 400);
  t.deepEqual(missing.body, { error: 'name is missing' });

  const format = "Name can contain only lowercase letters, digits, and '-', but cannot start or end with '-'";
  const cases: Array<[unknown, string[]]> = [
    ['#4^x', [format]],
    ['Upper', [format]],
    ['-dash', [format]],
    ['', ["Name can't be blank", format]],
    ['a'.repeat(64), ['Name is too long (maximum is 63 characters)']],
    ['primary', ['Name has already been taken']],
  ];
  for (const [name, messages] of cases) {
    const response = await app.request(agentsPath(), { method: 'POST', token: f.maintainer.plaintext, body: { name } });
    t.is(response.status, 400, String(name));
    t.deepEqual(response.body, { message: `400 Bad request - [${messages.map((m) => JSON.stringify(m)).join(', ')}]` }, String(name));
  }
  t.is(await app.db('kubernetes_agents').where({ project_id: f.project.id, name: 'Upper' }).first(), undefined);
});

// ---------------------------------------------------------------- GET /projects/:id/cluster_agents(/:agent_id)

test('GET cluster_agents: maintainers get the project\'s agents with pagination headers; others 404 ClusterAgents Not Found', async (t) => {
  const own = await agentFixture(app, { agentName: 'listed' });
  const response = await app.request(agentsPath(own.project.id), { token: own.maintainer.plaintext });
  t.is(response.status, 200);
  t.deepEqual(response.body, [
    {
      id: own.agent.id,
      name: 'listed',
      config_project: await configProject(own.project),
      created_at: own.agent.createdAt.toISOString(),
      created_by_user_id: own.maintainer.user.id,
    },
  ]);
  t.is(response.headers.get('x-total'), '1');
  t.is(response.headers.get('x-per-page'), '20');
  t.is(response.headers.get('link'), `<${EXTERNAL_URL}${agentsPath(own.project.id)}?page=1&per_page=20>; rel="first", <${EXTERNAL_URL}${agentsPath(own.project.id)}?page=1&per_page=20>; rel="last"`);

  const developer = await app.request(agentsPath(own.project.id), { token: own.developer.plaintext });
  t.is(developer.status, 404);
  t.deepEqual(developer.body, { message: '404 ClusterAgents Not Found' });
  t.is((await app.request(agentsPath(own.project.id))).status, 401);
  const badPage = await app.request(`${agentsPath(own.project.id)}?per_page=0`, { token: own.maintainer.plaintext });
  t.deepEqual(badPage.body, { error: 'per_page has a value not allowed' });
});

test('GET cluster_agents/:agent_id: 200 for maintainers; developer, unknown and other projects\' agents 404 Not found', async (t) => {
  const shown = await app.request(`${agentsPath()}/${f.agent.id}`, { token: f.maintainer.plaintext });
  t.is(shown.status, 200);
  t.is(shown.body.name, 'primary');
  const other = await agentFixture(app, { agentName: 'elsewhere' });
  for (const [token, path] of [
    [f.developer.plaintext, `${agentsPath()}/${f.agent.id}`],
    [f.maintainer.plaintext, `${agentsPath()}/999999`],
    [f.maintainer.plaintext, `${agentsPath()}/${other.agent.id}`],
  ]) {
    const response = await app.request(path, { token });
    t.is(response.status, 404, path);
    t.deepEqual(response.body, RECORD_NOT_FOUND);
  }
  const invalid = await app.request(`${agentsPath()}/abc`, { token: f.maintainer.plaintext });
  t.is(invalid.status, 400);
  t.deepEqual(invalid.body, { error: 'agent_id is invalid' });
});

// ---------------------------------------------------------------- DELETE /projects/:id/cluster_agents/:agent_id

test('DELETE cluster_agents/:agent_id: developer 403, unknown 404 Not found, maintainer 204 and the agent and its tokens are gone', async (t) => {
  const own = await agentFixture(app, { agentName: 'doomed' });
  const path = `${agentsPath(own.project.id)}/${own.agent.id}`;
  t.is((await app.request(path, { method: 'DELETE' })).status, 401);
  const developer = await app.request(path, { method: 'DELETE', token: own.developer.plaintext });
  t.is(developer.status, 403);
  t.deepEqual(developer.body, FORBIDDEN);
  const unknown = await app.request(`${agentsPath(own.project.id)}/999999`, { method: 'DELETE', token: own.maintainer.plaintext });
  t.is(unknown.status, 404);
  t.deepEqual(unknown.body, RECORD_NOT_FOUND);
  t.truthy(await app.db('kubernetes_agents').where({ id: own.agent.id }).first());

  const deleted = await app.request(path, { method: 'DELETE', token: own.maintainer.plaintext });
  t.is(deleted.status, 204);
  t.is(deleted.text, '');
  t.is(await app.db('kubernetes_agents').where({ id: own.agent.id }).first(), undefined);
  t.is(await tokenRow(app, own.token.id), undefined);
});

// ---------------------------------------------------------------- tokens

test('POST …/tokens: 201 with the token shown once; only its peppered digest is stored', async (t) => {
  const response = await app.request(tokensPath(), {
    method: 'POST',
    token: f.maintainer.plaintext,
    body: { name: 'second', description: 'for the staging cluster' },
  });
  t.is(response.status, 201, response.text);
  const { token, ...entity } = response.body;
  t.regex(token, /^glagent-[A-Za-z0-9_-]{50}$/);
  const row = await app.db('kubernetes_agent_tokens').where({ agent_id: f.agent.id, name: 'second' }).first();
  t.deepEqual(entity, {
    id: row.id,
    name: 'second',
    description: 'for the staging cluster',
    agent_id: f.agent.id,
    status: 'active',
    created_at: app.clock.now().toISOString(),
    created_by_user_id: f.maintainer.user.id,
    last_used_at: null,
  });
  t.is(row.token_digest, app.services.tokens.tokens.digest(token));
  t.false(Object.values(row).some((value) => String(value).includes(token)), 'the plaintext is not stored');

  // Never shown again: not in the listing, not in the single token.
  const listed = await app.request(tokensPath(), { token: f.maintainer.plaintext });
  t.false(listed.text.includes(token));
  const single = await app.request(`${tokensPath()}/${row.id}`, { token: f.maintainer.plaintext });
  t.deepEqual(single.body, entity);
});

test('POST …/tokens: 401, developer 403, unknown agent 404 Not found, 400 name is missing, model errors', async (t) => {
  t.is((await app.request(tokensPath(), { method: 'POST', body: { name: 'x' } })).status, 401);
  const developer = await app.request(tokensPath(), { method: 'POST', token: f.developer.plaintext, body: { name: 'x' } });
  t.is(developer.status, 403);
  t.deepEqual(developer.body, FORBIDDEN);
  const unknown = await app.request(tokensPath(999_999), { method: 'POST', token: f.maintainer.plaintext, body: { name: 'x' } });
  t.is(unknown.status, 404);
  t.deepEqual(unknown.body, RECORD_NOT_FOUND);
  const missing = await app.request(tokensPath(), { method: 'POST', token: f.maintainer.plaintext, body: {} });
  t.is(missing.status, 400);
  t.deepEqual(missing.body, { error: 'name is missing' });
  const invalid = await app.request(tokensPath(), { method: 'POST', token: f.maintainer.plaintext, body: { name: '', description: 'd'.repeat(1025) } });
  t.is(invalid.status, 400);
  t.deepEqual(invalid.body, { message: '400 Bad request - ["Description is too long (maximum is 1024 characters)", "Name can\'t be blank"]' });
  t.is(await app.db('kubernetes_agent_tokens').where({ agent_id: f.agent.id, name: 'x' }).first(), undefined);
});

test('GET …/tokens: active tokens only, GitLab\'s basic entity, paginated; developer 404 Not found', async (t) => {
  const own = await agentFixture(app, { agentName: 'with-tokens' });
  const agents = app.services['kubernetes-agent'].agents;
  const viewer = { ...own.maintainer.user };
  const second = await agents.createToken(viewer, own.project, own.agent.id, { name: 'second', description: 'two' });
  await agents.revokeToken(viewer, own.project, own.agent.id, own.token.id);
  const response = await app.request(tokensPath(own.agent.id, own.project.id), { token: own.maintainer.plaintext });
  t.is(response.status, 200);
  t.deepEqual(response.body, [
    {
      id: second.token.id,
      name: 'second',
      description: 'two',
      agent_id: own.agent.id,
      status: 'active',
      created_at: second.token.createdAt.toISOString(),
      created_by_user_id: own.maintainer.user.id,
    },
  ]);
  t.is(response.headers.get('x-total'), '1');
  const developer = await app.request(tokensPath(own.agent.id, own.project.id), { token: own.developer.plaintext });
  t.is(developer.status, 404);
  t.deepEqual(developer.body, RECORD_NOT_FOUND);
});

test('DELETE …/tokens/:token_id: developer 403, unknown 404 Not found, 400 token_id is invalid, maintainer 204 and the row revoked', async (t) => {
  const own = await agentFixture(app, { agentName: 'revocable' });
  const path = `${tokensPath(own.agent.id, own.project.id)}/${own.token.id}`;
  t.is((await app.request(path, { method: 'DELETE' })).status, 401);
  const developer = await app.request(path, { method: 'DELETE', token: own.developer.plaintext });
  t.is(developer.status, 403);
  t.deepEqual(developer.body, FORBIDDEN);
  const unknown = await app.request(`${tokensPath(own.agent.id, own.project.id)}/999999`, { method: 'DELETE', token: own.maintainer.plaintext });
  t.is(unknown.status, 404);
  t.deepEqual(unknown.body, RECORD_NOT_FOUND);
  const invalid = await app.request(`${tokensPath(own.agent.id, own.project.id)}/x`, { method: 'DELETE', token: own.maintainer.plaintext });
  t.is(invalid.status, 400);
  t.deepEqual(invalid.body, { error: 'token_id is invalid' });
  t.is((await tokenRow(app, own.token.id)).status, 'active');

  const revoked = await app.request(path, { method: 'DELETE', token: own.maintainer.plaintext });
  t.is(revoked.status, 204);
  t.is((await tokenRow(app, own.token.id)).status, 'revoked');
  // Revoking again is still 204 (GitLab's finder sees revoked tokens; the update is a no-op).
  t.is((await app.request(path, { method: 'DELETE', token: own.maintainer.plaintext })).status, 204);
  // A revoked token is not shown on its own either.
  const shown = await app.request(path, { token: own.maintainer.plaintext });
  t.is(shown.status, 404);
});

test('POST cluster_agents: concurrent registrations of one name create one agent; the others get "Name has already been taken"', async (t) => {
  const own = await agentFixture(app, { agentName: 'first' });
  const responses = await Promise.all(
    Array.from({ length: 5 }, () => app.request(agentsPath(own.project.id), { method: 'POST', token: own.maintainer.plaintext, body: { name: 'raced' } })),
  );
  t.is(responses.filter((r) => r.status === 201).length, 1);
  for (const response of responses.filter((r) => r.status !== 201)) {
    t.is(response.status, 400);
    t.deepEqual(response.body, { message: '400 Bad request - ["Name has already been taken"]' });
  }
  t.is((await app.db('kubernetes_agents').where({ project_id: own.project.id, name: 'raced' })).length, 1);
});
