import test from 'ava';
import { startTestApp, ROOT_TOKEN, EXTERNAL_URL, type TestApp, type TestResponse } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { UNAUTHORIZED, insufficientScope } from '../../helpers/gitlab-errors.js';

const NOW = '2026-11-22T10:00:00.000Z';
const HOST = new URL(EXTERNAL_URL).hostname;

let app: TestApp;

interface TestUser {
  id: number;
  username: string;
  name: string;
  token: string;
}
interface Entity {
  id: number;
  name: string;
  path: string;
  path_with_namespace: string;
  [key: string]: unknown;
}

const prefix = `pl${Math.random().toString(36).slice(2, 7)}`;
/** Projects tests create on the side, kept out of the shared lists (tests run concurrently). */
const aside = `px${Math.random().toString(36).slice(2, 7)}`;
let owner: TestUser;
let teamOwner: TestUser;
let admin: TestUser;
let outsider: TestUser;
let reporter: TestUser;
const teamMembers = new Map<number, TestUser>();
let shop: { id: number; name: string; full_path: string };
let team: { id: number; name: string; full_path: string };
const projects: Record<string, Entity> = {};

async function newUser(scopes: string[] = ['api'], options: { admin?: boolean } = {}): Promise<TestUser> {
  const { user, plaintext } = await createUserWithToken(app, scopes, options);
  return { id: user.id, username: user.username, name: user.name, token: plaintext };
}

async function post(path: string, token: string, body: Record<string, unknown>) {
  const response = await app.request(path, { method: 'POST', token, body });
  if (response.status !== 201) throw new Error(`POST ${path} failed: ${response.status} ${response.text}`);
  return response.body;
}

test.before(async () => {
  app = await startTestApp();
  owner = await newUser();
  teamOwner = await newUser();
  admin = await newUser(['api'], { admin: true });
  outsider = await newUser();
  reporter = await newUser();
  shop = await post('/api/v4/groups', owner.token, { name: `${prefix} shop`, path: `${prefix}-shop`, visibility: 'public' });
  team = await post('/api/v4/groups', teamOwner.token, { name: `${prefix} team`, path: `${prefix}-team` });
  for (const visibility of ['public', 'internal', 'private']) {
    projects[visibility] = await post('/api/v4/projects', owner.token, { path: `${prefix}-${visibility}`, namespace_id: shop.id, visibility });
  }
  projects.hidden = await post('/api/v4/projects', teamOwner.token, { path: `${prefix}-hidden`, namespace_id: team.id });
  projects.mine = await post('/api/v4/projects', owner.token, { path: `${prefix}-mine`, visibility: 'public' });
  for (const level of [10, 15, 20, 30, 40, 50]) {
    const user = await newUser();
    await post(`/api/v4/groups/${team.id}/members`, ROOT_TOKEN, { user_id: user.id, access_level: level });
    teamMembers.set(level, user);
  }
  await post(`/api/v4/projects/${projects.private.id}/members`, ROOT_TOKEN, { user_id: reporter.id, access_level: 20 });
});
test.after.always(async () => {
  await app?.close();
});

const short = (project: { path: string }) => project.path.slice(project.path.indexOf('-') + 1);

/** The short paths a list answers, for this file's projects only, ordered by path. */
async function listPaths(path: string, token?: string, query: Record<string, string> = {}) {
  const search = new URLSearchParams({ search: prefix, per_page: '100', order_by: 'path', sort: 'asc', ...query });
  const response = await app.request(`${path}?${search}`, { token });
  if (response.status !== 200) throw new Error(`${path}: ${response.status} ${response.text}`);
  return (response.body as Entity[]).map(short);
}

// ---------------------------------------------------------------- auth and params

test('GET /projects: a bad token → 401, a token without api/read_api → 403', async (t) => {
  const bad = await app.request('/api/v4/projects', { token: 'glpat-not-a-real-token-000000' });
  t.is(bad.status, 401);
  t.deepEqual(bad.body, UNAUTHORIZED);
  const reader = await newUser(['read_user']);
  const scoped = await app.request('/api/v4/projects', { token: reader.token });
  t.is(scoped.status, 403);
  t.deepEqual(scoped.body, insufficientScope('api read_api'));
});

test('GET /projects: bad params → 400 with Grape messages', async (t) => {
  const cases: Array<[string, string]> = [
    ['order_by=size', 'order_by does not have a valid value'],
    ['sort=sideways', 'sort does not have a valid value'],
    ['visibility=secret', 'visibility does not have a valid value'],
    ['archived=perhaps', 'archived is invalid'],
    ['min_access_level=11', 'min_access_level does not have a valid value'],
    ['id_after=x', 'id_after is invalid'],
    ['pagination=cursor', 'pagination does not have a valid value'],
  ];
  for (const [query, error] of cases) {
    const response = await app.request(`/api/v4/projects?${query}`, { token: owner.token });
    t.is(response.status, 400, query);
    t.deepEqual(response.body, { error }, query);
  }
});

// ---------------------------------------------------------------- visibility tables

test('GET /projects: anonymous callers see public projects; membership, owned and min_access_level give none', async (t) => {
  t.deepEqual(await listPaths('/api/v4/projects'), ['mine', 'public']);
  for (const query of [{ membership: 'true' }, { owned: 'true' }, { min_access_level: '10' }] as Array<Record<string, string>>) {
    t.deepEqual(await listPaths('/api/v4/projects', undefined, query), [], JSON.stringify(query));
  }
});

test('GET /projects: a non-member sees public and internal projects, and no memberships', async (t) => {
  t.deepEqual(await listPaths('/api/v4/projects', outsider.token), ['internal', 'mine', 'public']);
  t.deepEqual(await listPaths('/api/v4/projects', outsider.token, { membership: 'true' }), []);
});

test('GET /projects: each group level sees the group\'s private project; min_access_level narrows by level', async (t) => {
  for (const [level, user] of teamMembers) {
    t.deepEqual(await listPaths('/api/v4/projects', user.token), ['hidden', 'internal', 'mine', 'public'], `level ${level}`);
    t.deepEqual(await listPaths('/api/v4/projects', user.token, { membership: 'true' }), ['hidden'], `level ${level}`);
    t.deepEqual(await listPaths('/api/v4/projects', user.token, { min_access_level: '30' }), level >= 30 ? ['hidden'] : [], `level ${level}`);
    t.deepEqual(await listPaths('/api/v4/projects', user.token, { owned: 'true' }), level === 50 ? ['hidden'] : [], `level ${level}`);
  }
});

test('GET /projects: a direct project member sees that project', async (t) => {
  t.deepEqual(await listPaths('/api/v4/projects', reporter.token), ['internal', 'mine', 'private', 'public']);
  t.deepEqual(await listPaths('/api/v4/projects', reporter.token, { membership: 'true' }), ['private']);
  t.deepEqual(await listPaths('/api/v4/projects', reporter.token, { min_access_level: '30' }), []);
});

test('GET /projects: the group owner owns the group\'s projects and their own', async (t) => {
  t.deepEqual(await listPaths('/api/v4/projects', owner.token, { owned: 'true' }), ['internal', 'mine', 'private', 'public']);
  t.deepEqual(await listPaths('/api/v4/projects', owner.token), ['internal', 'mine', 'private', 'public']);
});

test('GET /projects: admins see every project', async (t) => {
  t.deepEqual(await listPaths('/api/v4/projects', admin.token), ['hidden', 'internal', 'mine', 'private', 'public']);
  t.deepEqual(await listPaths('/api/v4/projects', admin.token, { membership: 'true' }), []);
});

// ---------------------------------------------------------------- entities

function basicEntity(project: Entity, namespace: Record<string, unknown>, nameWithNamespace: string) {
  return {
    id: project.id,
    description: null,
    name: project.name,
    name_with_namespace: nameWithNamespace,
    path: project.path,
    path_with_namespace: project.path_with_namespace,
    created_at: NOW,
    default_branch: 'main',
    tag_list: [],
    topics: [],
    ssh_url_to_repo: `git@${HOST}:${project.path_with_namespace}.git`,
    http_url_to_repo: `${EXTERNAL_URL}/${project.path_with_namespace}.git`,
    web_url: `${EXTERNAL_URL}/${project.path_with_namespace}`,
    readme_url: null,
    forks_count: 0,
    avatar_url: null,
    star_count: 0,
    last_activity_at: NOW,
    visibility: project.visibility,
    namespace,
  };
}

const shopNamespace = () => ({
  id: shop.id,
  name: shop.name,
  path: shop.full_path,
  kind: 'group',
  full_path: shop.full_path,
  parent_id: null,
  avatar_url: null,
  web_url: `${EXTERNAL_URL}/groups/${shop.full_path}`,
});

test('GET /projects: anonymous callers and simple=true get BasicProjectDetails', async (t) => {
  const expected = [basicEntity(projects.public, shopNamespace(), `${shop.name} / ${projects.public.name}`)];
  const anonymous = await app.request(`/api/v4/projects?search=${prefix}-public`);
  t.is(anonymous.status, 200);
  t.deepEqual(anonymous.body, expected);
  const simple = await app.request(`/api/v4/projects?search=${prefix}-public&simple=true`, { token: outsider.token });
  t.deepEqual(simple.body, expected);
});

test('GET /projects: signed-in callers get the project with their permissions', async (t) => {
  const response = await app.request(`/api/v4/projects?search=${prefix}-private`, { token: reporter.token });
  t.is(response.status, 200);
  const { tag_list: _tags, readme_url: _readme, ...basic } = basicEntity(projects.private, shopNamespace(), `${shop.name} / ${projects.private.name}`);
  t.deepEqual(response.body, [
    {
      ...basic,
      archived: false,
      creator_id: owner.id,
      marked_for_deletion_at: null,
      marked_for_deletion_on: null,
      permissions: { project_access: { access_level: 20, notification_level: 3 }, group_access: null },
    },
  ]);
  const member = await app.request(`/api/v4/projects?search=${prefix}-hidden`, { token: teamMembers.get(30)!.token });
  t.deepEqual(member.body[0].permissions, { project_access: null, group_access: { access_level: 30, notification_level: 3 } });
  const own = await app.request(`/api/v4/projects?search=${prefix}-mine`, { token: owner.token });
  t.deepEqual(own.body[0].permissions, { project_access: { access_level: 50, notification_level: 3 }, group_access: null });
  const stranger = await app.request(`/api/v4/projects?search=${prefix}-mine`, { token: outsider.token });
  t.deepEqual(stranger.body[0].permissions, { project_access: null, group_access: null });
  const asAdmin = await app.request(`/api/v4/projects?search=${prefix}-mine`, { token: admin.token });
  t.is(asAdmin.body[0].repository_storage, 'default');
});

// ---------------------------------------------------------------- filters and order

test('GET /projects: visibility, archived and search filters', async (t) => {
  t.deepEqual(await listPaths('/api/v4/projects', admin.token, { visibility: 'internal' }), ['internal']);
  await app.request(`/api/v4/projects/${projects.internal.id}/archive`, { method: 'POST', token: ROOT_TOKEN });
  try {
    t.deepEqual(await listPaths('/api/v4/projects', admin.token, { archived: 'true' }), ['internal']);
    t.deepEqual(await listPaths('/api/v4/projects', admin.token, { archived: 'false' }), ['hidden', 'mine', 'private', 'public']);
  } finally {
    await app.request(`/api/v4/projects/${projects.internal.id}/unarchive`, { method: 'POST', token: ROOT_TOKEN });
  }
  t.deepEqual(await listPaths('/api/v4/projects', admin.token, { search: `${prefix}-pri` }), ['private']);
  // The namespace path is searched only with search_namespaces.
  t.deepEqual(await listPaths('/api/v4/projects', admin.token, { search: `${prefix}-team` }), []);
  t.deepEqual(await listPaths('/api/v4/projects', admin.token, { search: `${prefix}-team`, search_namespaces: 'true' }), ['hidden']);
});

test('GET /projects: newest first by default; order_by id, name, path with sort', async (t) => {
  const byId = ['public', 'internal', 'private', 'hidden', 'mine'];
  const paths = async (query: Record<string, string>) => {
    const response = await app.request(`/api/v4/projects?${new URLSearchParams({ search: prefix, ...query })}`, { token: admin.token });
    return (response.body as Entity[]).map(short);
  };
  t.deepEqual(await paths({}), [...byId].reverse());
  t.deepEqual(await paths({ order_by: 'id', sort: 'asc' }), byId);
  t.deepEqual(await paths({ order_by: 'name', sort: 'desc' }), ['public', 'private', 'mine', 'internal', 'hidden']);
  t.deepEqual(await paths({ order_by: 'created_at', sort: 'asc' }), byId);
  t.deepEqual(
    await paths({ order_by: 'id', sort: 'asc', id_after: String(projects.internal.id), id_before: String(projects.mine.id) }),
    ['private', 'hidden'],
  );
});

// ---------------------------------------------------------------- pagination

test('GET /projects paginates with offset headers across pages', async (t) => {
  const seen: string[] = [];
  for (let page = 1; page <= 3; page += 1) {
    const response = await app.request(`/api/v4/projects?search=${prefix}&order_by=id&sort=asc&per_page=2&page=${page}`, { token: admin.token });
    t.is(response.status, 200);
    t.is(response.headers.get('x-total'), '5');
    t.is(response.headers.get('x-total-pages'), '3');
    t.is(response.headers.get('x-next-page'), page < 3 ? String(page + 1) : '');
    seen.push(...(response.body as Entity[]).map(short));
  }
  t.deepEqual(seen, ['public', 'internal', 'private', 'hidden', 'mine']);
});

test('GET /projects?pagination=keyset follows the Link header with id_after / id_before, no totals', async (t) => {
  const follow = async (first: string) => {
    const seen: string[] = [];
    let next: string | undefined = first;
    let pages = 0;
    while (next) {
      const url = new URL(next);
      const response: TestResponse = await app.request(`${url.pathname}${url.search}`, { token: admin.token });
      t.is(response.status, 200);
      t.is(response.headers.get('x-total'), null);
      t.is(response.headers.get('x-page'), null);
      seen.push(...(response.body as Entity[]).map(short));
      next = /<([^>]+)>; rel="next"/.exec(response.headers.get('link') ?? '')?.[1];
      if (next) t.true(next.startsWith(`${EXTERNAL_URL}/api/v4/projects?`));
      pages += 1;
    }
    return { seen, pages };
  };
  const ascending = await follow(`${EXTERNAL_URL}/api/v4/projects?search=${prefix}&pagination=keyset&order_by=id&sort=asc&per_page=2`);
  t.deepEqual(ascending, { seen: ['public', 'internal', 'private', 'hidden', 'mine'], pages: 3 });
  const descending = await follow(`${EXTERNAL_URL}/api/v4/projects?search=${prefix}&pagination=keyset&order_by=id&per_page=2`);
  t.deepEqual(descending, { seen: ['mine', 'hidden', 'private', 'internal', 'public'], pages: 3 });
});

test('GET /projects?pagination=keyset without order_by=id → 405', async (t) => {
  for (const query of ['pagination=keyset', 'pagination=keyset&order_by=name']) {
    const response = await app.request(`/api/v4/projects?${query}`, { token: admin.token });
    t.is(response.status, 405, query);
    t.deepEqual(response.body, { error: 'Keyset pagination is not yet available for this type of request' });
  }
});

// ---------------------------------------------------------------- GET /users/:user_id/projects

test('GET /users/:user_id/projects lists the user\'s personal projects, by id or username', async (t) => {
  t.deepEqual(await listPaths(`/api/v4/users/${owner.id}/projects`, outsider.token), ['mine']);
  t.deepEqual(await listPaths(`/api/v4/users/${owner.username}/projects`), ['mine']);
  const entity = await app.request(`/api/v4/users/${owner.id}/projects`, { token: owner.token });
  t.is(entity.body.length, 1);
  t.deepEqual(entity.body[0].permissions, { project_access: { access_level: 50, notification_level: 3 }, group_access: null });
  await post('/api/v4/projects', owner.token, { path: `${aside}-secret` });
  t.deepEqual(await listPaths(`/api/v4/users/${owner.id}/projects`, outsider.token, { search: aside }), []);
  t.deepEqual(await listPaths(`/api/v4/users/${owner.id}/projects`, owner.token, { search: aside }), ['secret']);
  t.deepEqual(await listPaths(`/api/v4/users/${owner.id}/projects`, admin.token, { search: aside }), ['secret']);
});

test('GET /users/:user_id/projects: an unknown user → 404 User Not Found', async (t) => {
  for (const ref of ['999999', 'no-such-user-here']) {
    const response = await app.request(`/api/v4/users/${ref}/projects`, { token: owner.token });
    t.is(response.status, 404);
    t.deepEqual(response.body, { message: '404 User Not Found' });
  }
});

// ---------------------------------------------------------------- GET /groups/:id/projects

test('GET /groups/:id/projects lists the group\'s visible projects without permissions', async (t) => {
  t.deepEqual(await listPaths(`/api/v4/groups/${shop.id}/projects`), ['public']);
  t.deepEqual(await listPaths(`/api/v4/groups/${shop.id}/projects`, outsider.token), ['internal', 'public']);
  t.deepEqual(await listPaths(`/api/v4/groups/${encodeURIComponent(shop.full_path)}/projects`, reporter.token), ['internal', 'private', 'public']);
  const response = await app.request(`/api/v4/groups/${shop.id}/projects?search=${prefix}-private`, { token: owner.token });
  t.is(response.body.length, 1);
  t.false('permissions' in response.body[0]);
  t.is(response.body[0].creator_id, owner.id);
});

test('GET /groups/:id/projects: include_subgroups reaches projects of subgroups', async (t) => {
  const sub = await post('/api/v4/groups', owner.token, { name: 'sub', path: 'sub', parent_id: shop.id, visibility: 'public' });
  await post('/api/v4/projects', owner.token, { path: `${aside}-nested`, namespace_id: sub.id, visibility: 'public' });
  await post('/api/v4/projects', owner.token, { path: `${aside}-top`, namespace_id: shop.id, visibility: 'public' });
  t.deepEqual(await listPaths(`/api/v4/groups/${shop.id}/projects`, undefined, { search: aside }), ['top']);
  t.deepEqual(await listPaths(`/api/v4/groups/${shop.id}/projects`, undefined, { search: aside, include_subgroups: 'true' }), ['nested', 'top']);
});

test('GET /groups/:id/projects: an invisible group → 404 Group Not Found', async (t) => {
  for (const token of [undefined, outsider.token]) {
    const response = await app.request(`/api/v4/groups/${team.id}/projects`, { token });
    t.is(response.status, 404);
    t.deepEqual(response.body, { message: '404 Group Not Found' });
  }
});

test('GET /projects/:id reads without a token: public projects answer, others are 404; a bad token is 401', async (t) => {
  const shown = await app.request(`/api/v4/projects/${encodeURIComponent(projects.public.path_with_namespace)}`);
  t.is(shown.status, 200);
  t.like(shown.body, { id: projects.public.id, visibility: 'public' });
  t.false('repository_storage' in shown.body);
  for (const project of [projects.internal, projects.private]) {
    const hidden = await app.request(`/api/v4/projects/${project.id}`);
    t.is(hidden.status, 404);
    t.deepEqual(hidden.body, { message: '404 Project Not Found' });
  }
  const bad = await app.request(`/api/v4/projects/${projects.public.id}`, { token: 'glpat-not-a-real-token-000000' });
  t.is(bad.status, 401);
  t.deepEqual(bad.body, UNAUTHORIZED);
});

test('GET /projects: a higher membership above a lower one reaches every project below both', async (t) => {
  const user = await newUser();
  const top = await post('/api/v4/groups', ROOT_TOKEN, { name: 'Top', path: `${aside}-top-group` });
  const middle = await post('/api/v4/groups', ROOT_TOKEN, { name: 'Middle', path: 'middle', parent_id: top.id });
  const bottom = await post('/api/v4/groups', ROOT_TOKEN, { name: 'Bottom', path: 'bottom', parent_id: middle.id });
  const leaf = await post('/api/v4/groups', ROOT_TOKEN, { name: 'Leaf', path: 'leaf', parent_id: bottom.id });
  await post('/api/v4/projects', ROOT_TOKEN, { path: `${aside}-deep`, namespace_id: leaf.id });
  await post(`/api/v4/groups/${top.id}/members`, ROOT_TOKEN, { user_id: user.id, access_level: 40 });
  await post(`/api/v4/groups/${bottom.id}/members`, ROOT_TOKEN, { user_id: user.id, access_level: 10 });
  t.deepEqual(await listPaths('/api/v4/projects', user.token, { search: `${aside}-deep`, min_access_level: '40' }), ['deep']);
  const [project] = (await app.request(`/api/v4/projects?search=${aside}-deep`, { token: user.token })).body;
  t.deepEqual(project.permissions.group_access, { access_level: 40, notification_level: 3 });
});

test('GET /groups/:id/projects: the Project entity for anonymous callers too; simple=true gives BasicProjectDetails', async (t) => {
  const anonymous = await app.request(`/api/v4/groups/${shop.id}/projects?search=${prefix}-public`);
  t.is(anonymous.body.length, 1);
  t.like(anonymous.body[0], { id: projects.public.id, archived: false, marked_for_deletion_on: null });
  t.false('permissions' in anonymous.body[0]);
  const simple = await app.request(`/api/v4/groups/${shop.id}/projects?search=${prefix}-public&simple=true`, { token: owner.token });
  t.false('archived' in simple.body[0]);
  t.deepEqual(simple.body[0].tag_list, []);
});

test('GET /projects and /groups: id bounds and skipped ids past an id column are taken as the column\'s limits', async (t) => {
  t.deepEqual(await listPaths('/api/v4/projects', admin.token, { id_after: '2147483648' }), []);
  t.deepEqual(await listPaths('/api/v4/projects', admin.token, { id_before: '99999999999' }), ['hidden', 'internal', 'mine', 'private', 'public']);
  const groups = await app.request(`/api/v4/groups?skip_groups=2147483648&search=${prefix}-team`, { token: admin.token });
  t.is(groups.status, 200);
  t.deepEqual(
    groups.body.map((group: { id: number }) => group.id),
    [team.id],
  );
});
