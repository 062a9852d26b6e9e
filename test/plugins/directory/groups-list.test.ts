import test from 'ava';
import { startTestApp, ROOT_TOKEN, EXTERNAL_URL, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { UNAUTHORIZED, insufficientScope } from '../../helpers/gitlab-errors.js';

const NOW = '2026-11-22T10:00:00.000Z';
const GROUP_NOT_FOUND = { message: '404 Group Not Found' };

let app: TestApp;

interface TestUser {
  id: number;
  username: string;
  token: string;
}

interface Group {
  id: number;
  name: string;
  path: string;
  full_path: string;
}

const prefix = `vt${Math.random().toString(36).slice(2, 7)}`;
let owner: TestUser;
let admin: TestUser;
let outsider: TestUser;
/** A member of `priv` at each level, by level. */
const members = new Map<number, TestUser>();
/** pub (public), int (internal), priv (private) > priv/sub (private) > priv/sub/deep (private); pub > pub/kid (public). */
const groups: Record<string, Group> = {};

async function newUser(scopes: string[] = ['api'], options: { admin?: boolean } = {}): Promise<TestUser> {
  const { user, plaintext } = await createUserWithToken(app, scopes, options);
  return { id: user.id, username: user.username, token: plaintext };
}

async function createGroup(token: string, body: Record<string, unknown>): Promise<Group> {
  const response = await app.request('/api/v4/groups', { method: 'POST', token, body });
  if (response.status !== 201) throw new Error(`creating a group failed: ${response.status} ${response.text}`);
  return response.body;
}

async function addMember(groupId: number, userId: number, accessLevel: number) {
  const response = await app.request(`/api/v4/groups/${groupId}/members`, {
    method: 'POST',
    token: ROOT_TOKEN,
    body: { user_id: userId, access_level: accessLevel },
  });
  if (response.status !== 201) throw new Error(`adding a member failed: ${response.status} ${response.text}`);
}

test.before(async () => {
  app = await startTestApp();
  owner = await newUser();
  admin = await newUser(['api'], { admin: true });
  outsider = await newUser();
  groups.pub = await createGroup(owner.token, { name: `${prefix} pub`, path: `${prefix}-pub`, visibility: 'public' });
  groups.int = await createGroup(owner.token, { name: `${prefix} int`, path: `${prefix}-int`, visibility: 'internal' });
  groups.priv = await createGroup(owner.token, { name: `${prefix} priv`, path: `${prefix}-priv` });
  groups.sub = await createGroup(owner.token, { name: `${prefix} sub`, path: 'sub', parent_id: groups.priv.id });
  groups.deep = await createGroup(owner.token, { name: `${prefix} deep`, path: 'deep', parent_id: groups.sub.id });
  groups.kid = await createGroup(owner.token, { name: `${prefix} kid`, path: 'kid', parent_id: groups.pub.id, visibility: 'public' });
  for (const level of [10, 15, 20, 30, 40, 50]) {
    const user = await newUser();
    await addMember(groups.priv.id, user.id, level);
    members.set(level, user);
  }
});
test.after.always(async () => {
  await app?.close();
});

/** The names (without the prefix) a list answers, for this file's groups only. */
async function listNames(path: string, token?: string, query: Record<string, string> = {}) {
  const search = new URLSearchParams({ search: prefix, per_page: '100', ...query });
  const response = await app.request(`${path}?${search}`, { token });
  if (response.status !== 200) throw new Error(`${path}: ${response.status} ${response.text}`);
  return (response.body as Group[]).map((group) => group.name.slice(prefix.length + 1));
}

// ---------------------------------------------------------------- auth matrix

test('GET /groups: a bad token → 401, a token without api/read_api → 403 insufficient_scope', async (t) => {
  const bad = await app.request('/api/v4/groups', { token: 'glpat-not-a-real-token-000000' });
  t.is(bad.status, 401);
  t.deepEqual(bad.body, UNAUTHORIZED);
  const reader = await newUser(['read_user']);
  const scoped = await app.request('/api/v4/groups', { token: reader.token });
  t.is(scoped.status, 403);
  t.deepEqual(scoped.body, insufficientScope('api read_api'));
});

test('GET /groups: bad params → 400 with Grape messages', async (t) => {
  const cases: Array<[string, string]> = [
    ['min_access_level=12', 'min_access_level does not have a valid value'],
    ['order_by=stars', 'order_by does not have a valid value'],
    ['sort=up', 'sort does not have a valid value'],
    ['visibility=secret', 'visibility does not have a valid value'],
    ['owned=maybe', 'owned is invalid'],
    ['skip_groups=a,b', 'skip_groups is invalid'],
    ['per_page=0', 'per_page has a value not allowed'],
  ];
  for (const [query, error] of cases) {
    const response = await app.request(`/api/v4/groups?${query}`, { token: owner.token });
    t.is(response.status, 400, query);
    t.deepEqual(response.body, { error }, query);
  }
});

// ---------------------------------------------------------------- visibility tables

test('GET /groups: anonymous callers see the public groups only', async (t) => {
  t.deepEqual(await listNames('/api/v4/groups'), ['kid', 'pub']);
  // owned and min_access_level change nothing for anonymous callers.
  t.deepEqual(await listNames('/api/v4/groups', undefined, { all_available: 'false' }), ['kid', 'pub']);
  t.deepEqual(await listNames('/api/v4/groups', undefined, { min_access_level: '10' }), ['kid', 'pub']);
});

test('GET /groups: a non-member sees nothing by default, public and internal groups with all_available', async (t) => {
  t.deepEqual(await listNames('/api/v4/groups', outsider.token), []);
  t.deepEqual(await listNames('/api/v4/groups', outsider.token, { all_available: 'true' }), ['int', 'kid', 'pub']);
});

test('GET /groups: every member level sees its group and the subgroups under it', async (t) => {
  for (const [level, user] of members) {
    t.deepEqual(await listNames('/api/v4/groups', user.token), ['deep', 'priv', 'sub'], `level ${level}`);
    t.deepEqual(await listNames('/api/v4/groups', user.token, { all_available: 'true' }), ['deep', 'int', 'kid', 'priv', 'pub', 'sub'], `level ${level}`);
  }
});

test('GET /groups: a member of a subgroup also sees its ancestors', async (t) => {
  const user = await newUser();
  await addMember(groups.deep.id, user.id, 30);
  t.deepEqual(await listNames('/api/v4/groups', user.token), ['deep', 'priv', 'sub']);
  const sub = await newUser();
  await addMember(groups.sub.id, sub.id, 10);
  t.deepEqual(await listNames('/api/v4/groups', sub.token), ['deep', 'priv', 'sub']);
});

test('GET /groups: admins see every group; with all_available=false only their own', async (t) => {
  t.deepEqual(await listNames('/api/v4/groups', admin.token), ['deep', 'int', 'kid', 'priv', 'pub', 'sub']);
  t.deepEqual(await listNames('/api/v4/groups', admin.token, { all_available: 'false' }), []);
  t.deepEqual(await listNames('/api/v4/groups', ROOT_TOKEN), ['deep', 'int', 'kid', 'priv', 'pub', 'sub']);
});

test('GET /groups: owned lists direct Owner memberships; min_access_level those at or above it, with descendants', async (t) => {
  t.deepEqual(await listNames('/api/v4/groups', owner.token, { owned: 'true' }), ['deep', 'int', 'kid', 'priv', 'pub', 'sub']);
  t.deepEqual(await listNames('/api/v4/groups', members.get(40)!.token, { owned: 'true' }), []);
  t.deepEqual(await listNames('/api/v4/groups', members.get(50)!.token, { owned: 'true' }), ['priv']);
  t.deepEqual(await listNames('/api/v4/groups', members.get(30)!.token, { min_access_level: '30' }), ['deep', 'priv', 'sub']);
  t.deepEqual(await listNames('/api/v4/groups', members.get(30)!.token, { min_access_level: '40' }), []);
  // owned wins over all_available.
  t.deepEqual(await listNames('/api/v4/groups', members.get(20)!.token, { owned: 'true', all_available: 'true' }), []);
});

// ---------------------------------------------------------------- filters and order

test('GET /groups: top_level_only, visibility, skip_groups, search on the full path', async (t) => {
  t.deepEqual(await listNames('/api/v4/groups', admin.token, { top_level_only: 'true' }), ['int', 'priv', 'pub']);
  t.deepEqual(await listNames('/api/v4/groups', admin.token, { visibility: 'public' }), ['kid', 'pub']);
  t.deepEqual(await listNames('/api/v4/groups', admin.token, { skip_groups: `${groups.pub.id},${groups.sub.id}` }), ['deep', 'int', 'kid', 'priv']);
  t.deepEqual(await listNames('/api/v4/groups', admin.token, { search: `${prefix}-priv/sub` }), ['deep', 'sub']);
  t.deepEqual(await listNames('/api/v4/groups', admin.token, { search: 'no-such-group-anywhere' }), []);
  // LIKE wildcards in a search are taken literally.
  t.deepEqual(await listNames('/api/v4/groups', admin.token, { search: `${prefix}%` }), []);
});

test('GET /groups: order_by name/path/id and sort, id breaking ties', async (t) => {
  t.deepEqual(await listNames('/api/v4/groups', admin.token, { sort: 'desc' }), ['sub', 'pub', 'priv', 'kid', 'int', 'deep']);
  const byId = Object.values(groups)
    .sort((a, b) => a.id - b.id)
    .map((group) => group.name.slice(prefix.length + 1));
  t.deepEqual(await listNames('/api/v4/groups', admin.token, { order_by: 'id' }), byId);
  t.deepEqual(await listNames('/api/v4/groups', admin.token, { order_by: 'id', sort: 'desc' }), [...byId].reverse());
  // Paths: deep, kid, sub sort before the prefixed top-level paths.
  t.deepEqual(await listNames('/api/v4/groups', admin.token, { order_by: 'path' }), ['deep', 'kid', 'sub', 'int', 'priv', 'pub']);
});

test('GET /groups answers the Group entity', async (t) => {
  const response = await app.request(`/api/v4/groups?search=${prefix}-priv/sub/deep`, { token: owner.token });
  t.is(response.status, 200);
  t.deepEqual(response.body, [
    {
      id: groups.deep.id,
      web_url: `${EXTERNAL_URL}/groups/${prefix}-priv/sub/deep`,
      name: `${prefix} deep`,
      path: 'deep',
      description: '',
      visibility: 'private',
      full_name: `${prefix} priv / ${prefix} sub / ${prefix} deep`,
      full_path: `${prefix}-priv/sub/deep`,
      parent_id: groups.sub.id,
      created_at: NOW,
      code_suggestions: true,
      marked_for_deletion_on: null,
    },
  ]);
});

// ---------------------------------------------------------------- pagination

test('GET /groups paginates with GitLab headers across pages', async (t) => {
  const seen: string[] = [];
  for (let page = 1; page <= 3; page += 1) {
    const response = await app.request(`/api/v4/groups?search=${prefix}&per_page=2&page=${page}`, { token: admin.token });
    t.is(response.status, 200);
    t.is(response.headers.get('x-page'), String(page));
    t.is(response.headers.get('x-per-page'), '2');
    t.is(response.headers.get('x-total'), '6');
    t.is(response.headers.get('x-total-pages'), '3');
    t.is(response.headers.get('x-next-page'), page < 3 ? String(page + 1) : '');
    t.is(response.headers.get('x-prev-page'), page > 1 ? String(page - 1) : '');
    const link = response.headers.get('link')!;
    t.is(link.includes('rel="next"'), page < 3);
    t.true(link.includes(`${EXTERNAL_URL}/api/v4/groups?search=${prefix}&per_page=2&page=1>; rel="first"`));
    seen.push(...(response.body as Group[]).map((group) => group.name.slice(prefix.length + 1)));
  }
  t.deepEqual(seen, ['deep', 'int', 'kid', 'priv', 'pub', 'sub']);
});

test('GET /groups: an offset past 50 000 → 405; keyset pagination → 405', async (t) => {
  const far = await app.request('/api/v4/groups?page=501&per_page=100', { token: admin.token });
  t.is(far.status, 405);
  t.deepEqual(far.body, {
    error: 'Offset pagination has a maximum allowed offset of 50000 for requests that return objects of type Group. Remaining records can be retrieved using keyset pagination.',
  });
  const keyset = await app.request('/api/v4/groups?pagination=keyset', { token: admin.token });
  t.is(keyset.status, 405);
  t.deepEqual(keyset.body, { error: 'Keyset pagination is not yet available for this type of request' });
});

// ---------------------------------------------------------------- subgroups and descendant_groups

test('GET /groups/:id/subgroups lists direct children; descendant_groups all descendants', async (t) => {
  t.deepEqual(await listNames(`/api/v4/groups/${groups.priv.id}/subgroups`, owner.token), ['sub']);
  t.deepEqual(await listNames(`/api/v4/groups/${groups.priv.id}/descendant_groups`, owner.token), ['deep', 'sub']);
  t.deepEqual(await listNames(`/api/v4/groups/${encodeURIComponent(groups.priv.full_path)}/descendant_groups`, members.get(10)!.token), ['deep', 'sub']);
  t.deepEqual(await listNames(`/api/v4/groups/${groups.pub.id}/subgroups`), ['kid']);
  t.deepEqual(await listNames(`/api/v4/groups/${groups.deep.id}/subgroups`, owner.token), []);
  // Search within one parent looks at the group's own path and name.
  t.deepEqual(await listNames(`/api/v4/groups/${groups.priv.id}/descendant_groups`, owner.token, { search: 'deep' }), ['deep']);
});

test('GET /groups/:id/subgroups: an invisible or unknown group → 404 Group Not Found', async (t) => {
  for (const token of [undefined, outsider.token]) {
    const response = await app.request(`/api/v4/groups/${groups.priv.id}/subgroups`, { token });
    t.is(response.status, 404);
    t.deepEqual(response.body, GROUP_NOT_FOUND);
  }
  const unknown = await app.request('/api/v4/groups/999999/descendant_groups', { token: admin.token });
  t.is(unknown.status, 404);
  t.deepEqual(unknown.body, GROUP_NOT_FOUND);
});

test('GET /groups/:id/subgroups: a non-member of a public group sees public children', async (t) => {
  t.deepEqual(await listNames(`/api/v4/groups/${groups.pub.id}/subgroups`, outsider.token, { all_available: 'true' }), ['kid']);
  t.deepEqual(await listNames(`/api/v4/groups/${groups.pub.id}/subgroups`, outsider.token), []);
});

test('GET /groups: visibility=public|internal alone lists that set; a project member also sees the project\'s group and its ancestors', async (t) => {
  t.deepEqual(await listNames('/api/v4/groups', outsider.token, { visibility: 'public' }), ['kid', 'pub']);
  t.deepEqual(await listNames('/api/v4/groups', outsider.token, { visibility: 'internal' }), ['int']);
  t.deepEqual(await listNames('/api/v4/groups', outsider.token, { visibility: 'private' }), []);
  t.deepEqual(await listNames('/api/v4/groups', undefined, { visibility: 'internal' }), []);
  const projectMember = await newUser();
  const project = await app.request('/api/v4/projects', { method: 'POST', token: owner.token, body: { path: `${prefix}-repo`, namespace_id: groups.deep.id } });
  await app.request(`/api/v4/projects/${project.body.id}/members`, { method: 'POST', token: ROOT_TOKEN, body: { user_id: projectMember.id, access_level: 20 } });
  t.deepEqual(await listNames('/api/v4/groups', projectMember.token), ['deep', 'priv', 'sub']);
});

test('GET /groups/:id reads without a token: public groups answer, others are 404; a bad token is 401', async (t) => {
  const shown = await app.request(`/api/v4/groups/${groups.pub.id}`);
  t.is(shown.status, 200);
  t.like(shown.body, { id: groups.pub.id, full_path: groups.pub.full_path, visibility: 'public' });
  for (const group of [groups.int, groups.priv]) {
    const hidden = await app.request(`/api/v4/groups/${group.id}`);
    t.is(hidden.status, 404);
    t.deepEqual(hidden.body, GROUP_NOT_FOUND);
  }
  const bad = await app.request(`/api/v4/groups/${groups.pub.id}`, { token: 'glpat-not-a-real-token-000000' });
  t.is(bad.status, 401);
  t.deepEqual(bad.body, UNAUTHORIZED);
});
