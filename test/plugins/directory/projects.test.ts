import { createHash } from 'node:crypto';
import test from 'ava';
import { startTestApp, ROOT_TOKEN, EXTERNAL_URL, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { makeEd25519Key } from '../../helpers/ssh-keys.js';
import { toDate } from '../../../core/util/time.js';
import { FORBIDDEN, UNAUTHORIZED, insufficientScope } from '../../helpers/gitlab-errors.js';

const NOW = '2026-11-22T10:00:00.000Z';
const HOST = new URL(EXTERNAL_URL).hostname;
const PROJECT_NOT_FOUND = { message: '404 Project Not Found' };
const USER_NOT_FOUND = { message: '404 User Not Found' };
const NAMESPACE_NOT_VALID = { message: { namespace: ['is not valid'] } };
const FINGERPRINT_TAKEN = { message: { fingerprint_sha256: ['has already been taken'] } };
const PROJECT_PATH_MESSAGE = "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'";
const INSUFFICIENT_SCOPE = insufficientScope('api');

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

// ---------------------------------------------------------------- helpers

interface TestUser {
  id: number;
  username: string;
  name: string;
  token: string;
}

let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}-${Math.random().toString(36).slice(2, 7)}`;
const projects = () => app.services.directory.projects;

async function newUser(scopes: string[] = ['api'], options: { admin?: boolean } = {}): Promise<TestUser> {
  const { user, plaintext } = await createUserWithToken(app, scopes, options);
  return { id: user.id, username: user.username, name: user.name, token: plaintext };
}

async function created<T = any>(path: string, token: string, body: Record<string, unknown>): Promise<T> {
  const response = await app.request(path, { method: 'POST', token, body });
  if (response.status !== 201) throw new Error(`POST ${path} failed: ${response.status} ${response.text}`);
  return response.body as T;
}

type Group = { id: number; full_path: string; name: string };
type ProjectBody = { id: number; path_with_namespace: string; name: string };
const createGroup = (token: string, body: Record<string, unknown>) => created<Group>('/api/v4/groups', token, body);
const createProject = (token: string, body: Record<string, unknown>) => created<ProjectBody>('/api/v4/projects', token, body);
const addGroupMember = (groupId: number, userId: number, accessLevel: number) =>
  created(`/api/v4/groups/${groupId}/members`, ROOT_TOKEN, { user_id: userId, access_level: accessLevel });
const addProjectMember = (projectId: number, userId: number, accessLevel: number) =>
  created(`/api/v4/projects/${projectId}/members`, ROOT_TOKEN, { user_id: userId, access_level: accessLevel });

/** A group owned by a fresh user, with a private project in it and members at the given levels. */
async function projectWithTeam(levels: Record<string, number>) {
  const owner = await newUser();
  const group = await createGroup(owner.token, { name: 'Team', path: unique('team') });
  const project = await createProject(owner.token, { path: 'repo', namespace_id: group.id });
  const team: Record<string, TestUser> = {};
  for (const [role, level] of Object.entries(levels)) {
    team[role] = await newUser();
    await addProjectMember(project.id, team[role].id, level);
  }
  return { owner, group, project, team };
}

/** A database row with driver differences removed: timestamps as ISO strings, flags as booleans. */
function normalize(row: Record<string, unknown> | undefined) {
  if (!row) return row;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    if (key.endsWith('_at')) out[key] = value === null ? null : toDate(value).toISOString();
    else if (['code_suggestions', 'archived', 'can_push'].includes(key)) out[key] = Boolean(value);
    else out[key] = value;
  }
  return out;
}

const projectRow = async (id: number) => normalize(await app.db('directory_projects').where({ id }).first());
const userNamespace = (userId: number) => app.db('directory_namespaces').where({ kind: 'user', owner_id: userId }).first();
const hashedPath = (id: number) => {
  const hash = createHash('sha256').update(String(id)).digest('hex');
  return `@hashed/${hash.slice(0, 2)}/${hash.slice(2, 4)}/${hash}`;
};

/** The project entity for a project in a user's personal namespace. */
async function personalProjectEntity(user: TestUser, fields: { id: number; name: string; path: string } & Record<string, unknown>) {
  const namespace = await userNamespace(user.id);
  const fullPath = `${user.username}/${fields.path}`;
  return {
    description: null,
    name_with_namespace: `${user.name} / ${fields.name}`,
    path_with_namespace: fullPath,
    created_at: NOW,
    default_branch: 'main',
    topics: [],
    ssh_url_to_repo: `git@${HOST}:${fullPath}.git`,
    http_url_to_repo: `${EXTERNAL_URL}/${fullPath}.git`,
    web_url: `${EXTERNAL_URL}/${fullPath}`,
    avatar_url: null,
    star_count: 0,
    forks_count: 0,
    last_activity_at: NOW,
    namespace: {
      id: namespace.id,
      name: user.name,
      path: user.username,
      kind: 'user',
      full_path: user.username,
      parent_id: null,
      avatar_url: null,
      web_url: `${EXTERNAL_URL}/${user.username}`,
    },
    visibility: 'private',
    archived: false,
    creator_id: user.id,
    marked_for_deletion_at: null,
    marked_for_deletion_on: null,
    ...fields,
  };
}

// ---------------------------------------------------------------- auth matrix (every route)

const ROUTES: Array<[string, string]> = [
  ['POST', '/api/v4/projects'],
  ['PUT', '/api/v4/projects/1'],
  ['POST', '/api/v4/projects/1/archive'],
  ['POST', '/api/v4/projects/1/unarchive'],
  ['POST', '/api/v4/projects/1/deploy_keys'],
  ['POST', '/api/v4/projects/1/members'],
];

for (const [method, path] of ROUTES) {
  test(`${method} ${path}: no credentials → 401`, async (t) => {
    const response = await app.request(path, { method, body: method === 'GET' ? undefined : {} });
    t.is(response.status, 401);
    t.deepEqual(response.body, UNAUTHORIZED);
  });
  if (method !== 'GET') {
    test(`${method} ${path}: a read_api token → 403 insufficient_scope`, async (t) => {
      const reader = await newUser(['read_api'], { admin: true });
      const response = await app.request(path, { method, token: reader.token, body: {} });
      t.is(response.status, 403);
      t.deepEqual(response.body, INSUFFICIENT_SCOPE);
    });
  }
}

// ---------------------------------------------------------------- POST /projects

test('POST /projects creates a project in the caller\'s personal namespace', async (t) => {
  const alice = await newUser();
  const response = await app.request('/api/v4/projects', {
    method: 'POST',
    token: alice.token,
    body: { name: 'Gizmo', path: 'gizmo', description: 'it whirs' },
  });
  t.is(response.status, 201);
  const id = response.body.id;
  t.deepEqual(response.body, await personalProjectEntity(alice, { id, name: 'Gizmo', path: 'gizmo', description: 'it whirs' }));
  t.false('repository_storage' in response.body, 'only admins see the storage');

  const namespace = await userNamespace(alice.id);
  t.deepEqual(await projectRow(id), {
    id,
    namespace_id: namespace.id,
    name: 'Gizmo',
    path: 'gizmo',
    full_path: `${alice.username}/gizmo`,
    full_path_lower: `${alice.username}/gizmo`.toLowerCase(),
    description: 'it whirs',
    visibility: 'private',
    archived: false,
    default_branch: 'main',
    repository_storage: 'default',
    disk_path: hashedPath(id),
    creator_id: alice.id,
    created_at: NOW,
    updated_at: NOW,
    marked_for_deletion_at: null,
  });
  t.is(await projects().accessLevel(alice.id, await projects().findProjectById(id)), 50, 'owner through the personal namespace');
  t.is((await app.db('directory_members').where({ source_type: 'project', source_id: id })).length, 0);
});

test('POST /projects derives the path from the name and the name from the path', async (t) => {
  const alice = await newUser();
  const fromName = await app.request('/api/v4/projects', { method: 'POST', token: alice.token, body: { name: 'My  Cool + Project' } });
  t.is(fromName.status, 201);
  t.like(fromName.body, { name: 'My  Cool + Project', path: 'my-cool-project', path_with_namespace: `${alice.username}/my-cool-project` });
  const validName = await app.request('/api/v4/projects', { method: 'POST', token: alice.token, body: { name: 'Keep_Case.v2' } });
  t.like(validName.body, { name: 'Keep_Case.v2', path: 'Keep_Case.v2' });
  const fromPath = await app.request('/api/v4/projects', { method: 'POST', token: alice.token, form: { path: 'just-a-path' } });
  t.is(fromPath.status, 201);
  t.like(fromPath.body, { name: 'just-a-path', path: 'just-a-path' });
});

test('POST /projects takes visibility and default_branch; admins see repository_storage', async (t) => {
  const response = await app.request('/api/v4/projects', {
    method: 'POST',
    token: ROOT_TOKEN,
    body: { path: unique('adm'), visibility: 'internal', default_branch: 'trunk' },
  });
  t.is(response.status, 201);
  t.like(response.body, { visibility: 'internal', default_branch: 'trunk', repository_storage: 'default' });
  t.like(await projectRow(response.body.id), { visibility: 'internal', default_branch: 'trunk', disk_path: hashedPath(response.body.id) });
});

test('POST /projects without name and path, or with bad values, is a Grape 400', async (t) => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{}, 'name, path are missing, at least one parameter must be provided'],
    [{ name: 'x', visibility: 'hidden' }, 'visibility does not have a valid value'],
    [{ name: 'x', namespace_id: 'abc' }, 'namespace_id is invalid'],
    [{ namespace_id: 'abc' }, 'namespace_id is invalid, name, path are missing, at least one parameter must be provided'],
  ];
  for (const [body, error] of cases) {
    const response = await app.request('/api/v4/projects', { method: 'POST', token: ROOT_TOKEN, body });
    t.is(response.status, 400, JSON.stringify(body));
    t.deepEqual(response.body, { error }, JSON.stringify(body));
  }
  // A present but empty name satisfies Grape's at_least_one_of (it checks keys); the model refuses it.
  const empty = await app.request('/api/v4/projects', { method: 'POST', token: ROOT_TOKEN, body: { name: '' } });
  t.is(empty.status, 400);
  t.deepEqual(Object.keys(empty.body.message).sort(), ['name', 'path']);
  t.true(empty.body.message.name.includes("can't be blank"));
});

test('POST /projects refuses invalid paths and names with GitLab\'s model errors', async (t) => {
  const alice = await newUser();
  for (const path of ['-lead', 'x.git', 'x.atom', 'sp ace']) {
    const response = await app.request('/api/v4/projects', { method: 'POST', token: alice.token, body: { name: 'Fine', path } });
    t.is(response.status, 400, path);
    t.deepEqual(response.body, { message: { path: [PROJECT_PATH_MESSAGE] } }, path);
  }
  const badName = await app.request('/api/v4/projects', { method: 'POST', token: alice.token, body: { name: '-nope', path: 'fine' } });
  t.is(badName.status, 400);
  t.deepEqual(badName.body, {
    message: {
      name: ["can contain only letters, digits, emoji, '_', '.', '+', dashes, or spaces. It must start with a letter, digit, emoji, or '_'."],
    },
  });
  const endsInDot = await app.request('/api/v4/projects', { method: 'POST', token: alice.token, body: { path: 'dotted.' } });
  t.is(endsInDot.status, 201, 'project paths, unlike namespace paths, may end in a dot');
  t.is((await app.db('directory_projects').where({ creator_id: alice.id })).length, 1);
});

test('POST /projects with a taken path or name is 400 has already been taken', async (t) => {
  const alice = await newUser();
  await createProject(alice.token, { name: 'Same', path: 'same' });
  const both = await app.request('/api/v4/projects', { method: 'POST', token: alice.token, body: { name: 'Same', path: 'SAME' } });
  t.is(both.status, 400);
  t.deepEqual(both.body, { message: { path: ['has already been taken'], name: ['has already been taken'] } });
  const pathOnly = await app.request('/api/v4/projects', { method: 'POST', token: alice.token, body: { name: 'Other', path: 'same' } });
  t.deepEqual(pathOnly.body, { message: { path: ['has already been taken'] } });
  const nameOnly = await app.request('/api/v4/projects', { method: 'POST', token: alice.token, body: { name: 'Same', path: 'other' } });
  t.deepEqual(nameOnly.body, { message: { name: ['has already been taken'] } });
  t.is((await app.db('directory_projects').where({ creator_id: alice.id })).length, 1);

  // Another user's namespace is another path space.
  const bob = await newUser();
  t.is((await app.request('/api/v4/projects', { method: 'POST', token: bob.token, body: { name: 'Same', path: 'same' } })).status, 201);
});

test('POST /projects cannot take the full path of a subgroup', async (t) => {
  const group = await createGroup(ROOT_TOKEN, { name: 'G', path: unique('g') });
  await createGroup(ROOT_TOKEN, { name: 'Sub', path: 'sub', parent_id: group.id });
  const response = await app.request('/api/v4/projects', { method: 'POST', token: ROOT_TOKEN, body: { path: 'sub', namespace_id: group.id } });
  t.is(response.status, 400);
  t.deepEqual(response.body, { message: { path: ['has already been taken'] } });
});

test('POST /projects into a group needs maintainer; otherwise GitLab\'s 400 namespace is not valid', async (t) => {
  const owner = await newUser();
  const maintainer = await newUser();
  const developer = await newUser();
  const outsider = await newUser();
  const group = await createGroup(owner.token, { name: 'Shop', path: unique('shop'), visibility: 'internal' });
  await addGroupMember(group.id, maintainer.id, 40);
  await addGroupMember(group.id, developer.id, 30);

  const response = await app.request('/api/v4/projects', { method: 'POST', token: maintainer.token, body: { path: 'widget', namespace_id: group.id } });
  t.is(response.status, 201);
  t.deepEqual(response.body.namespace, {
    id: group.id,
    name: 'Shop',
    path: group.full_path,
    kind: 'group',
    full_path: group.full_path,
    parent_id: null,
    avatar_url: null,
    web_url: `${EXTERNAL_URL}/groups/${group.full_path}`,
  });
  t.like(response.body, { name_with_namespace: 'Shop / widget', path_with_namespace: `${group.full_path}/widget`, creator_id: maintainer.id });
  t.like(await projectRow(response.body.id), { namespace_id: group.id, creator_id: maintainer.id });

  for (const user of [developer, outsider]) {
    const refused = await app.request('/api/v4/projects', { method: 'POST', token: user.token, body: { path: 'sneaky', namespace_id: group.id } });
    t.is(refused.status, 400);
    t.deepEqual(refused.body, NAMESPACE_NOT_VALID);
  }
  const missing = await app.request('/api/v4/projects', { method: 'POST', token: owner.token, body: { path: 'x', namespace_id: 999999 } });
  t.deepEqual(missing.body, NAMESPACE_NOT_VALID);
  const othersPersonal = await app.request('/api/v4/projects', {
    method: 'POST',
    token: outsider.token,
    body: { path: 'x', namespace_id: (await userNamespace(owner.id)).id },
  });
  t.deepEqual(othersPersonal.body, NAMESPACE_NOT_VALID);
  t.is((await app.db('directory_projects').where({ path: 'sneaky' })).length, 0);
});

test('POST /projects lowers a visibility above its group\'s to the group\'s, as GitLab does', async (t) => {
  const group = await createGroup(ROOT_TOKEN, { name: 'Closed', path: unique('closed') });
  const response = await app.request('/api/v4/projects', {
    method: 'POST',
    token: ROOT_TOKEN,
    body: { path: 'loud', namespace_id: group.id, visibility: 'public' },
  });
  t.is(response.status, 201);
  t.is(response.body.visibility, 'private');
  t.is((await projectRow(response.body.id))!.visibility, 'private');
});

// ---------------------------------------------------------------- GET /projects/:id

test('GET /projects/:id by id and by URL-encoded full path (any case), with a read_api token', async (t) => {
  const owner = await newUser();
  const reader = await newUser(['read_api']);
  const top = await createGroup(owner.token, { name: 'Group', path: unique('grp') });
  const sub = await createGroup(owner.token, { name: 'Sub', path: 'sub', parent_id: top.id });
  const project = await createProject(owner.token, { name: 'Proj', path: 'proj', namespace_id: sub.id });
  await addGroupMember(top.id, reader.id, 10);

  const byId = await app.request(`/api/v4/projects/${project.id}`, { token: reader.token });
  t.is(byId.status, 200);
  t.like(byId.body, {
    id: project.id,
    name: 'Proj',
    name_with_namespace: 'Group / Sub / Proj',
    path_with_namespace: `${top.full_path}/sub/proj`,
    http_url_to_repo: `${EXTERNAL_URL}/${top.full_path}/sub/proj.git`,
  });
  t.like(byId.body.namespace, { id: sub.id, kind: 'group', full_path: `${top.full_path}/sub`, parent_id: top.id });

  const byPath = await app.request(`/api/v4/projects/${encodeURIComponent(`${top.full_path}/SUB/proj`)}`, { token: reader.token });
  t.is(byPath.status, 200);
  t.deepEqual(byPath.body, byId.body);
  t.is(byPath.headers.get('content-type'), 'application/json');
});

test('GET /projects/:id hides private projects from outsiders with 404 (also a .git suffix is not a path)', async (t) => {
  const { project } = await projectWithTeam({});
  const outsider = await newUser();
  for (const ref of [String(project.id), encodeURIComponent(project.path_with_namespace), '999999', encodeURIComponent(`${project.path_with_namespace}.git`)]) {
    const response = await app.request(`/api/v4/projects/${ref}`, { token: outsider.token });
    t.is(response.status, 404, ref);
    t.deepEqual(response.body, PROJECT_NOT_FOUND, ref);
  }
  t.is((await app.request(`/api/v4/projects/${project.id}`, { token: ROOT_TOKEN })).status, 200, 'admins see everything');
});

test('GET /projects/:id: internal projects for any user, public for all, private for guests and up', async (t) => {
  const { project, team } = await projectWithTeam({ guest: 10 });
  const outsider = await newUser();
  t.is((await app.request(`/api/v4/projects/${project.id}`, { token: team.guest.token })).status, 200);
  const internal = await createProject(ROOT_TOKEN, { path: unique('int'), visibility: 'internal' });
  const pub = await createProject(ROOT_TOKEN, { path: unique('pub'), visibility: 'public' });
  t.is((await app.request(`/api/v4/projects/${internal.id}`, { token: outsider.token })).status, 200);
  t.is((await app.request(`/api/v4/projects/${pub.id}`, { token: outsider.token })).status, 200);
});

// ---------------------------------------------------------------- PUT /projects/:id

test('PUT /projects/:id: a maintainer updates name, description and default_branch', async (t) => {
  const { project, team } = await projectWithTeam({ maintainer: 40 });
  const response = await app.request(`/api/v4/projects/${project.id}`, {
    method: 'PUT',
    token: team.maintainer.token,
    body: { name: 'Renamed', description: 'better', default_branch: 'develop', visibility: 'private' },
  });
  t.is(response.status, 200, 'sending the unchanged visibility is fine for a maintainer');
  t.like(response.body, { id: project.id, name: 'Renamed', description: 'better', default_branch: 'develop', path: 'repo' });
  t.true(response.body.name_with_namespace.endsWith(' / Renamed'));
  t.like(await projectRow(project.id), { name: 'Renamed', description: 'better', default_branch: 'develop', path: 'repo' });
});

test('PUT /projects/:id: developers get 403, outsiders 404; changing visibility needs owner', async (t) => {
  const { owner, project, team } = await projectWithTeam({ developer: 30, maintainer: 40 });
  const outsider = await newUser();
  const byDeveloper = await app.request(`/api/v4/projects/${project.id}`, { method: 'PUT', token: team.developer.token, body: { name: 'Mine' } });
  t.is(byDeveloper.status, 403);
  t.deepEqual(byDeveloper.body, FORBIDDEN);
  const byOutsider = await app.request(`/api/v4/projects/${project.id}`, { method: 'PUT', token: outsider.token, body: { name: 'Mine' } });
  t.is(byOutsider.status, 404);
  t.deepEqual(byOutsider.body, PROJECT_NOT_FOUND);
  const maintainerVisibility = await app.request(`/api/v4/projects/${project.id}`, {
    method: 'PUT',
    token: team.maintainer.token,
    body: { visibility: 'internal' },
  });
  t.is(maintainerVisibility.status, 403);
  t.deepEqual(maintainerVisibility.body, FORBIDDEN);
  t.like(await projectRow(project.id), { name: 'repo', visibility: 'private' });

  // The group owner owns the project by inheritance; the group is private, so internal is too much.
  const tooOpen = await app.request(`/api/v4/projects/${project.id}`, { method: 'PUT', token: owner.token, body: { visibility: 'internal' } });
  t.is(tooOpen.status, 400);
  t.deepEqual(tooOpen.body, { message: { visibility_level: ['internal is not allowed in a private group.'] } });
});

test('PUT /projects/:id: the owner of a personal project changes its visibility', async (t) => {
  const alice = await newUser();
  const project = await createProject(alice.token, { path: 'mine' });
  const response = await app.request(`/api/v4/projects/${encodeURIComponent(project.path_with_namespace)}`, {
    method: 'PUT',
    token: alice.token,
    body: { visibility: 'public' },
  });
  t.is(response.status, 200);
  t.is(response.body.visibility, 'public');
  t.is((await projectRow(project.id))!.visibility, 'public');
});

test('PUT /projects/:id validates like Grape and like the model', async (t) => {
  const alice = await newUser();
  const project = await createProject(alice.token, { path: 'valid' });
  await createProject(alice.token, { path: 'other', name: 'Taken' });
  const grape = await app.request(`/api/v4/projects/${project.id}`, { method: 'PUT', token: alice.token, body: { visibility: 'x' } });
  t.is(grape.status, 400);
  t.deepEqual(grape.body, { error: 'visibility does not have a valid value' });
  const taken = await app.request(`/api/v4/projects/${project.id}`, { method: 'PUT', token: alice.token, body: { name: 'Taken' } });
  t.is(taken.status, 400);
  t.deepEqual(taken.body, { message: { name: ['has already been taken'] } });
  const blankBranch = await app.request(`/api/v4/projects/${project.id}`, { method: 'PUT', token: alice.token, body: { default_branch: '' } });
  t.is(blankBranch.status, 400);
  t.deepEqual(blankBranch.body, { message: { default_branch: ["can't be blank"] } });
  t.like(await projectRow(project.id), { name: 'valid', default_branch: 'main' });
});

// ---------------------------------------------------------------- archive / unarchive

test('POST /projects/:id/archive and /unarchive: 201 with the project, archived flips', async (t) => {
  const alice = await newUser();
  const project = await createProject(alice.token, { path: 'old' });
  const archived = await app.request(`/api/v4/projects/${project.id}/archive`, { method: 'POST', token: alice.token });
  t.is(archived.status, 201);
  t.deepEqual(archived.body, await personalProjectEntity(alice, { id: project.id, name: 'old', path: 'old', archived: true }));
  t.true((await projectRow(project.id))!.archived);

  const again = await app.request(`/api/v4/projects/${project.id}/archive`, { method: 'POST', token: alice.token });
  t.is(again.status, 201, 'archiving twice is harmless');

  const unarchived = await app.request(`/api/v4/projects/${encodeURIComponent(project.path_with_namespace)}/unarchive`, {
    method: 'POST',
    token: alice.token,
  });
  t.is(unarchived.status, 201);
  t.is(unarchived.body.archived, false);
  t.false((await projectRow(project.id))!.archived);
});

test('POST /projects/:id/archive needs owner (GitLab\'s archive_project): maintainers 403, outsiders 404', async (t) => {
  const { owner, project, team } = await projectWithTeam({ maintainer: 40 });
  const outsider = await newUser();
  for (const action of ['archive', 'unarchive']) {
    const byMaintainer = await app.request(`/api/v4/projects/${project.id}/${action}`, { method: 'POST', token: team.maintainer.token });
    t.is(byMaintainer.status, 403);
    t.deepEqual(byMaintainer.body, FORBIDDEN);
    const byOutsider = await app.request(`/api/v4/projects/${project.id}/${action}`, { method: 'POST', token: outsider.token });
    t.is(byOutsider.status, 404);
    t.deepEqual(byOutsider.body, PROJECT_NOT_FOUND);
  }
  t.false((await projectRow(project.id))!.archived);
  const byGroupOwner = await app.request(`/api/v4/projects/${project.id}/archive`, { method: 'POST', token: owner.token });
  t.is(byGroupOwner.status, 201);
  t.true(byGroupOwner.body.archived);
  const byAdmin = await app.request(`/api/v4/projects/${project.id}/unarchive`, { method: 'POST', token: ROOT_TOKEN });
  t.is(byAdmin.status, 201);
  t.false(byAdmin.body.archived);
});

// ---------------------------------------------------------------- deploy keys

test('POST /projects/:id/deploy_keys adds a deploy key and links it', async (t) => {
  const { project, team } = await projectWithTeam({ maintainer: 40 });
  const key = makeEd25519Key('deploy@ci');
  const response = await app.request(`/api/v4/projects/${project.id}/deploy_keys`, {
    method: 'POST',
    token: team.maintainer.token,
    body: { title: 'CI', key: key.line, can_push: true, expires_at: '2027-01-01T00:00:00Z' },
  });
  t.is(response.status, 201);
  const id = response.body.id;
  t.deepEqual(response.body, {
    id,
    title: 'CI',
    created_at: NOW,
    expires_at: '2027-01-01T00:00:00.000Z',
    key: key.line,
    usage_type: 'auth_and_signing',
    fingerprint_sha256: `SHA256:${key.fingerprintSha256}`,
    can_push: true,
  });
  t.deepEqual(normalize(await app.db('directory_ssh_keys').where({ id }).first()), {
    id,
    type: 'deploy_key',
    user_id: null,
    title: 'CI',
    key: key.line,
    fingerprint_sha256: key.fingerprintSha256,
    fingerprint_md5: key.fingerprintMd5,
    usage_type: 'auth_and_signing',
    expires_at: '2027-01-01T00:00:00.000Z',
    last_used_at: null,
    created_at: NOW,
  });
  const links = (await app.db('directory_deploy_keys_projects').where({ deploy_key_id: id })).map(normalize);
  t.deepEqual(links, [{ id: links[0]!.id, deploy_key_id: id, project_id: project.id, can_push: true, created_at: NOW }]);

  t.deepEqual(await projects().deployKeyLink(id, project.id), { canPush: true });
  t.is(await projects().deployKeyLink(id, project.id + 1000), undefined);
  const listed = await projects().deployKeysFor(project.id);
  t.is(listed.length, 1);
  t.is(listed[0].key.id, id);
  t.is(listed[0].key.type, 'deploy_key');
  t.true(listed[0].canPush);
});

test('POST /projects/:id/deploy_keys reuses a deploy key the caller manages elsewhere, and answers an existing link as is', async (t) => {
  const alice = await newUser();
  const first = await createProject(alice.token, { path: 'first' });
  const second = await createProject(alice.token, { path: 'second' });
  const key = makeEd25519Key();
  const added = await created(`/api/v4/projects/${first.id}/deploy_keys`, alice.token, { title: 'Shared', key: key.line, can_push: true });

  const reused = await app.request(`/api/v4/projects/${second.id}/deploy_keys`, {
    method: 'POST',
    token: alice.token,
    body: { title: 'Ignored title', key: `${key.line} another-comment` },
  });
  t.is(reused.status, 201);
  t.like(reused.body, { id: added.id, title: 'Shared', can_push: false });
  t.is((await app.db('directory_ssh_keys').where({ fingerprint_sha256: key.fingerprintSha256 })).length, 1);
  t.deepEqual(await projects().deployKeyLink(added.id, second.id), { canPush: false });

  const repeated = await app.request(`/api/v4/projects/${first.id}/deploy_keys`, {
    method: 'POST',
    token: alice.token,
    body: { title: 'Again', key: key.line, can_push: false },
  });
  t.is(repeated.status, 201);
  t.like(repeated.body, { id: added.id, title: 'Shared', can_push: true });
  t.is((await app.db('directory_deploy_keys_projects').where({ deploy_key_id: added.id })).length, 2);
});

test('POST /projects/:id/deploy_keys refuses a user\'s SSH key and another owner\'s deploy key', async (t) => {
  const alice = await newUser();
  const bob = await newUser();
  const project = await createProject(alice.token, { path: 'keys' });
  const elsewhere = await createProject(bob.token, { path: 'bobs' });

  const userKey = makeEd25519Key();
  await app.services.directory.keys.add(bob.id, { title: 'laptop', key: userKey.line });
  const asUserKey = await app.request(`/api/v4/projects/${project.id}/deploy_keys`, { method: 'POST', token: alice.token, body: { title: 'x', key: userKey.line } });
  t.is(asUserKey.status, 400);
  t.deepEqual(asUserKey.body, FINGERPRINT_TAKEN);

  const bobsDeployKey = makeEd25519Key();
  await created(`/api/v4/projects/${elsewhere.id}/deploy_keys`, bob.token, { title: 'bob ci', key: bobsDeployKey.line });
  const stolen = await app.request(`/api/v4/projects/${project.id}/deploy_keys`, { method: 'POST', token: alice.token, body: { title: 'x', key: bobsDeployKey.line } });
  t.is(stolen.status, 400);
  t.deepEqual(stolen.body, FINGERPRINT_TAKEN);
  t.deepEqual(await projects().deployKeysFor(project.id), []);

  // An admin may reuse any deploy key.
  const byAdmin = await app.request(`/api/v4/projects/${project.id}/deploy_keys`, { method: 'POST', token: ROOT_TOKEN, body: { title: 'x', key: bobsDeployKey.line } });
  t.is(byAdmin.status, 201);
  t.is(byAdmin.body.title, 'bob ci');
});

test('POST /projects/:id/deploy_keys validates like Grape and like the key model', async (t) => {
  const alice = await newUser();
  const project = await createProject(alice.token, { path: 'v' });
  const url = `/api/v4/projects/${project.id}/deploy_keys`;
  const missing = await app.request(url, { method: 'POST', token: alice.token, body: {} });
  t.is(missing.status, 400);
  t.deepEqual(missing.body, { error: 'title is missing, key is missing' });
  const badBool = await app.request(url, { method: 'POST', token: alice.token, body: { title: 't', key: makeEd25519Key().line, can_push: 'perhaps' } });
  t.deepEqual(badBool.body, { error: 'can_push is invalid' });
  const malformed = await app.request(url, { method: 'POST', token: alice.token, body: { title: 't', key: 'ssh-ed25519 bm9wZQ==' } });
  t.is(malformed.status, 400);
  t.deepEqual(malformed.body, { message: { key: ['is invalid'], fingerprint_sha256: ['cannot be generated'] } });
  t.deepEqual(await projects().deployKeysFor(project.id), []);
});

test('POST /projects/:id/deploy_keys needs maintainer: developers 403, outsiders 404', async (t) => {
  const { project, team } = await projectWithTeam({ developer: 30 });
  const outsider = await newUser();
  const key = makeEd25519Key();
  const byDeveloper = await app.request(`/api/v4/projects/${project.id}/deploy_keys`, { method: 'POST', token: team.developer.token, body: { title: 't', key: key.line } });
  t.is(byDeveloper.status, 403);
  t.deepEqual(byDeveloper.body, FORBIDDEN);
  const byOutsider = await app.request(`/api/v4/projects/${project.id}/deploy_keys`, { method: 'POST', token: outsider.token, body: { title: 't', key: key.line } });
  t.is(byOutsider.status, 404);
  t.deepEqual(byOutsider.body, PROJECT_NOT_FOUND);
  t.is((await app.db('directory_ssh_keys').where({ fingerprint_sha256: key.fingerprintSha256 })).length, 0);
});

// ---------------------------------------------------------------- members

test('POST /projects/:id/members adds a member; a second time is 409', async (t) => {
  const { project, team } = await projectWithTeam({ maintainer: 40 });
  const bob = await newUser();
  const response = await app.request(`/api/v4/projects/${project.id}/members`, {
    method: 'POST',
    token: team.maintainer.token,
    body: { user_id: bob.id, access_level: 30 },
  });
  t.is(response.status, 201);
  t.deepEqual(response.body, {
    id: bob.id,
    username: bob.username,
    public_email: null,
    name: bob.name,
    state: 'active',
    locked: false,
    avatar_url: null,
    web_url: `${EXTERNAL_URL}/${bob.username}`,
    access_level: 30,
    created_at: NOW,
    expires_at: null,
    membership_state: 'active',
  });
  const row = await app.db('directory_members').where({ source_type: 'project', source_id: project.id, user_id: bob.id }).first();
  t.is(row.access_level, 30);
  t.is(toDate(row.created_at).toISOString(), NOW);
  t.is(await projects().accessLevel(bob.id, await projects().findProjectById(project.id)), 30);

  const again = await app.request(`/api/v4/projects/${project.id}/members`, { method: 'POST', token: team.maintainer.token, body: { username: bob.username, access_level: 20 } });
  t.is(again.status, 409);
  t.deepEqual(again.body, { message: 'Member already exists' });
});

test('POST /projects/:id/members: developers 403, outsiders 404, maintainers cannot make owners', async (t) => {
  const { owner, project, team } = await projectWithTeam({ developer: 30, maintainer: 40 });
  const outsider = await newUser();
  const target = await newUser();
  const url = `/api/v4/projects/${project.id}/members`;
  const byDeveloper = await app.request(url, { method: 'POST', token: team.developer.token, body: { user_id: target.id, access_level: 10 } });
  t.is(byDeveloper.status, 403);
  t.deepEqual(byDeveloper.body, FORBIDDEN);
  const byOutsider = await app.request(url, { method: 'POST', token: outsider.token, body: { user_id: target.id, access_level: 10 } });
  t.is(byOutsider.status, 404);
  t.deepEqual(byOutsider.body, PROJECT_NOT_FOUND);
  const ownerByMaintainer = await app.request(url, { method: 'POST', token: team.maintainer.token, body: { user_id: target.id, access_level: 50 } });
  t.is(ownerByMaintainer.status, 403);
  t.deepEqual(ownerByMaintainer.body, FORBIDDEN);
  t.is(await app.db('directory_members').where({ source_type: 'project', source_id: project.id, user_id: target.id }).first(), undefined);

  const ownerByOwner = await app.request(url, { method: 'POST', token: owner.token, body: { user_id: target.id, access_level: 50 } });
  t.is(ownerByOwner.status, 201);
  t.is(ownerByOwner.body.access_level, 50);
});

test('POST /projects/:id/members validates like Grape; unknown users are 404', async (t) => {
  const project = await createProject(ROOT_TOKEN, { path: unique('val') });
  const url = `/api/v4/projects/${project.id}/members`;
  const cases: Array<[Record<string, unknown>, string]> = [
    [{}, 'access_level is missing, user_id, username are missing, at least one parameter must be provided'],
    [{ username: 'x', access_level: '1.5' }, 'access_level is invalid'],
  ];
  for (const [body, error] of cases) {
    const response = await app.request(url, { method: 'POST', token: ROOT_TOKEN, body });
    t.is(response.status, 400, JSON.stringify(body));
    t.deepEqual(response.body, { error }, JSON.stringify(body));
  }
  const unknown = await app.request(url, { method: 'POST', token: ROOT_TOKEN, body: { username: 'no-such-user-here', access_level: 30 } });
  t.is(unknown.status, 404);
  t.deepEqual(unknown.body, USER_NOT_FOUND);
});

// ---------------------------------------------------------------- services: access, lookups, visibility

test('accessLevel is the highest of project, namespace and ancestor memberships; members of a parent group reach a subgroup\'s project', async (t) => {
  const owner = await newUser();
  const top = await createGroup(owner.token, { name: 'Top', path: unique('acc') });
  const mid = await createGroup(owner.token, { name: 'Mid', path: 'mid', parent_id: top.id });
  const created_ = await createProject(owner.token, { path: 'deep', namespace_id: mid.id });
  const project = await projects().findProjectById(created_.id);

  const reporter = await newUser();
  await addGroupMember(top.id, reporter.id, 20);
  t.is(await projects().accessLevel(reporter.id, project), 20, 'inherited from the root group');
  const viaApi = await app.request(`/api/v4/projects/${encodeURIComponent(`${top.full_path}/mid/deep`)}`, { token: reporter.token });
  t.is(viaApi.status, 200, 'so the private project is visible');

  await addProjectMember(project.id, reporter.id, 40);
  t.is(await projects().accessLevel(reporter.id, project), 40, 'a higher direct membership wins');
  const demoted = await newUser();
  await addGroupMember(mid.id, demoted.id, 30);
  await addProjectMember(project.id, demoted.id, 10);
  t.is(await projects().accessLevel(demoted.id, project), 30, 'a lower direct membership does not reduce the inherited one');

  t.is(await projects().accessLevel(owner.id, project), 50);
  const stranger = await newUser();
  t.is(await projects().accessLevel(stranger.id, project), 0);
  const root = await app.db('directory_users').where({ username: 'root' }).first();
  t.is(await projects().accessLevel(root.id, project), 0, 'admin status is not a membership');
  t.true(await projects().canRead({ id: root.id, isAdmin: true, state: 'active' }, project));
});

test('findProjectByPath tolerates case, a leading slash and a .git suffix', async (t) => {
  const top = await createGroup(ROOT_TOKEN, { name: 'Group', path: unique('Paths') });
  const sub = await createGroup(ROOT_TOKEN, { name: 'Sub', path: 'sub', parent_id: top.id });
  const project = await createProject(ROOT_TOKEN, { path: 'Proj', namespace_id: sub.id });
  const full = `${top.full_path}/sub/Proj`;
  for (const path of [full, `/${full}`, `${full}.git`, `/${full}.git`, full.toLowerCase(), `/${full.toUpperCase()}.GIT`]) {
    const found = await projects().findProjectByPath(path);
    t.is(found?.id, project.id, path);
  }
  t.is(await projects().findProjectByPath(`${top.full_path}/sub/nope.git`), undefined);
  t.is(await projects().findProjectByPath(`${top.full_path}/sub`), undefined, 'a group is not a project');
  const byId = await projects().findProjectById(project.id);
  t.like(byId, { fullPath: full, namespaceId: sub.id, diskPath: hashedPath(project.id), repositoryStorage: 'default', archived: false });
});

test('canRead: public for anyone, internal for active users, private for guests and admins', async (t) => {
  const { project: created_, team } = await projectWithTeam({ guest: 10 });
  const project = await projects().findProjectById(created_.id);
  const outsider = await newUser();
  const active = (user: TestUser) => ({ id: user.id, isAdmin: false, state: 'active' });

  t.false(await projects().canRead(null, project));
  t.false(await projects().canRead(active(outsider), project));
  t.true(await projects().canRead(active(team.guest), project));
  t.false(await projects().canRead({ ...active(team.guest), state: 'blocked' }, project), 'blocked users count as anonymous');
  t.true(await projects().canRead({ id: outsider.id, isAdmin: true }, project));

  const internal = { ...project, visibility: 'internal' };
  t.false(await projects().canRead(null, internal));
  t.true(await projects().canRead(active(outsider), internal));
  t.false(await projects().canRead({ ...active(outsider), state: 'deactivated' }, internal));
  const pub = { ...project, visibility: 'public' };
  t.true(await projects().canRead(null, pub));
});

test('setArchived is available to other plugins without a permission check', async (t) => {
  const alice = await newUser();
  const created_ = await createProject(alice.token, { path: 'svc-archive' });
  const archived = await projects().setArchived(await projects().findProjectById(created_.id), true);
  t.true(archived.archived);
  t.true((await projectRow(created_.id))!.archived);
  t.false((await projects().setArchived(archived, false)).archived);
});

test('a project in a namespace created before personal namespaces existed gets one on first use', async (t) => {
  const alice = await newUser();
  await app.db('directory_namespaces').where({ kind: 'user', owner_id: alice.id }).delete();
  const project = await createProject(alice.token, { path: 'late' });
  t.is(project.path_with_namespace, `${alice.username}/late`);
  t.truthy(await userNamespace(alice.id));
});
