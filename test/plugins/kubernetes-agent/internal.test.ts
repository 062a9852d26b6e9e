import test from 'ava';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { UNAUTHORIZED } from '../../helpers/gitlab-errors.js';
import { agentFixture, KAS_JWT_INVALID, kasHeaders, NOT_FOUND, otherProject } from './_support.js';

let app: TestApp;
let f: Awaited<ReturnType<typeof agentFixture>>;

test.before(async () => {
  // A Gitaly token file, as an operator would configure it (the memory store generates it).
  app = await startTestApp({ config: { plugins: { 'kubernetes-agent': { gitalyAddress: 'tcp://gitaly.internal:8075', gitalyTokenFile: 'gitaly_token' } } } });
  f = await agentFixture(app);
});
test.after.always(async () => {
  await app?.close();
});

const gitalyToken = () => app.secrets.ensure('gitaly_token', () => 'unused').trim();

function repositoryOf(project: typeof f.project) {
  return {
    gitaly_info: { address: 'tcp://gitaly.internal:8075', token: gitalyToken() },
    gitaly_repository: {
      storage_name: 'default',
      relative_path: `${project.diskPath}.git`,
      git_object_directory: '',
      git_alternate_object_directories: [],
      gl_repository: `project-${project.id}`,
      gl_project_path: project.fullPath,
    },
    default_branch: 'main',
  };
}

// ---------------------------------------------------------------- agent_info

test('agent_info and its agentk alias: the agent and its configuration project\'s repository', async (t) => {
  const expected = { project_id: f.project.id, agent_id: f.agent.id, agent_name: 'primary', ...repositoryOf(f.project) };
  t.regex(f.project.diskPath, /^@hashed\/[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{64}$/);
  t.not(gitalyToken(), '');
  for (const path of ['/api/v4/internal/kubernetes/agent_info', '/api/v4/internal/agents/agentk/agent_info']) {
    const response = await app.request(path, { headers: await kasHeaders(app, f.agentToken) });
    t.is(response.status, 200, path);
    t.deepEqual(response.body, expected, path);
    t.deepEqual(Object.keys(response.body), ['project_id', 'agent_id', 'agent_name', 'gitaly_info', 'gitaly_repository', 'default_branch']);

    const noToken = await app.request(path, { headers: await kasHeaders(app) });
    t.is(noToken.status, 401);
    t.deepEqual(noToken.body, UNAUTHORIZED);
    const noJwt = await app.request(path, { headers: { 'Gitlab-Agent-Api-Request': f.agentToken } });
    t.deepEqual(noJwt.body, KAS_JWT_INVALID);
  }
});

test('agent_info: without a Gitaly token file the token is empty; the default branch is the project\'s', async (t) => {
  const plain = await startTestApp();
  try {
    const own = await agentFixture(plain);
    const maintainer = { ...own.maintainer.user };
    await plain.services.directory.projects.updateProject(maintainer, own.project, { defaultBranch: 'trunk' });
    const response = await plain.request('/api/v4/internal/kubernetes/agent_info', { headers: await kasHeaders(plain, own.agentToken) });
    t.deepEqual(response.body.gitaly_info, { address: 'tcp://127.0.0.1:8075', token: '' });
    t.is(response.body.default_branch, 'trunk');
  } finally {
    await plain.close();
  }
});

// ---------------------------------------------------------------- project_info / verify_project_access

const projectInfo = async (id: string | number | undefined, token = f.agentToken) =>
  app.request(`/api/v4/internal/kubernetes/project_info${id === undefined ? '' : `?id=${encodeURIComponent(String(id))}`}`, { headers: await kasHeaders(app, token) });
const verify = async (id: string | number | undefined, token = f.agentToken) =>
  app.request(`/api/v4/internal/kubernetes/verify_project_access${id === undefined ? '' : `?id=${encodeURIComponent(String(id))}`}`, {
    headers: await kasHeaders(app, token),
  });

test('project_info visibility matrix: public and the agent\'s own project → 200; private, internal, unknown → 404 Not Found', async (t) => {
  const publicProject = await otherProject(app, 'public');
  const internalProject = await otherProject(app, 'internal');
  const privateProject = await otherProject(app, 'private');
  const allowed: Array<[string, typeof f.project, string | number]> = [
    ['public by id', publicProject, publicProject.id],
    ['public by full path', publicProject, publicProject.fullPath],
    ['own private project by id', f.project, f.project.id],
    ['own private project by full path', f.project, f.project.fullPath],
  ];
  for (const [label, project, ref] of allowed) {
    const response = await projectInfo(ref);
    t.is(response.status, 200, label);
    t.deepEqual(response.body, { project_id: project.id, ...repositoryOf(project) }, label);
    t.deepEqual(Object.keys(response.body), ['project_id', 'gitaly_info', 'gitaly_repository', 'default_branch'], label);
    const verified = await verify(ref);
    t.is(verified.status, 204, label);
    t.is(verified.text, '', label);
  }
  const denied: Array<[string, string | number | undefined]> = [
    ['private project of someone else', privateProject.id],
    ['private project by path', privateProject.fullPath],
    ['internal project', internalProject.id],
    ['unknown id', 999_999],
    ['unknown path', 'nobody/nothing'],
    ['no id', undefined],
  ];
  for (const [label, ref] of denied) {
    const response = await projectInfo(ref);
    t.is(response.status, 404, label);
    t.deepEqual(response.body, NOT_FOUND, label);
    const verified = await verify(ref);
    t.is(verified.status, 404, label);
    t.deepEqual(verified.body, NOT_FOUND, label);
  }
});

test('project_info: another agent sees its own project, not this agent\'s private one', async (t) => {
  const other = await agentFixture(app, { agentName: 'neighbour' });
  t.is((await projectInfo(other.project.id, other.agentToken)).status, 200);
  t.is((await projectInfo(f.project.id, other.agentToken)).status, 404);
  t.is((await projectInfo(other.project.id)).status, 404);
});

test('project_info and verify_project_access need the JWT and an agent token', async (t) => {
  for (const path of ['/api/v4/internal/kubernetes/project_info', '/api/v4/internal/kubernetes/verify_project_access']) {
    const noJwt = await app.request(`${path}?id=${f.project.id}`, { headers: { 'Gitlab-Agent-Api-Request': f.agentToken } });
    t.is(noJwt.status, 401);
    t.deepEqual(noJwt.body, KAS_JWT_INVALID);
    const noToken = await app.request(`${path}?id=${f.project.id}`, { headers: await kasHeaders(app) });
    t.is(noToken.status, 401);
    t.deepEqual(noToken.body, UNAUTHORIZED);
  }
});
