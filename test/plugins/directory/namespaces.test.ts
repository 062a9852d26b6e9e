import test from 'ava';
import { startTestApp, ROOT_TOKEN, EXTERNAL_URL, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { UNAUTHORIZED, insufficientScope } from '../../helpers/gitlab-errors.js';

const NAMESPACE_NOT_FOUND = { message: '404 Namespace Not Found' };
const RATE_LIMITED = { message: { error: 'This endpoint has been requested too many times. Try again later.' } };

let app: TestApp;
let readRepository: string;

test.before(async () => {
  app = await startTestApp();
  readRepository = (await createUserWithToken(app, ['read_repository'])).plaintext;
});
test.after.always(async () => {
  await app?.close();
});

let sequence = 0;
const unique = (prefix: string) => `${prefix}${++sequence}${Math.random().toString(36).slice(2, 7)}`;

type Made = Awaited<ReturnType<typeof createUserWithToken>>;

async function createGroup(owner: Made, path: string, parentId?: number) {
  const response = await app.request('/api/v4/groups', { method: 'POST', token: owner.plaintext, body: { name: `Group ${path}`, path, parent_id: parentId } });
  if (response.status !== 201) throw new Error(`group: ${response.status} ${response.text}`);
  return response.body as { id: number; path: string; full_path: string; name: string };
}

async function addMember(owner: Made, groupId: number, userId: number, accessLevel: number) {
  const response = await app.request(`/api/v4/groups/${groupId}/members`, { method: 'POST', token: owner.plaintext, body: { user_id: userId, access_level: accessLevel } });
  if (response.status !== 201) throw new Error(`member: ${response.status} ${response.text}`);
}

const personalNamespace = async (user: { id: number; username: string; name: string }) => {
  const row = await app.db('directory_namespaces').where({ kind: 'user', owner_id: user.id }).first();
  return {
    id: Number(row.id),
    name: user.name,
    path: user.username,
    kind: 'user',
    full_path: user.username,
    parent_id: null,
    avatar_url: null,
    web_url: `${EXTERNAL_URL}/${user.username}`,
  };
};

const groupNamespace = (group: { id: number; path: string; full_path: string; name: string }, parentId: number | null = null, counts?: { members: number; projects: number }) => ({
  id: group.id,
  name: group.name,
  path: group.path,
  kind: 'group',
  full_path: group.full_path,
  parent_id: parentId,
  avatar_url: null,
  web_url: `${EXTERNAL_URL}/groups/${group.full_path}`,
  ...(counts ? { members_count_with_descendants: counts.members, root_repository_size: null, projects_count: counts.projects } : {}),
});

// ---------------------------------------------------------------- auth matrix

for (const path of ['/api/v4/namespaces', '/api/v4/namespaces/1', '/api/v4/namespaces/root/exists']) {
  test(`GET ${path}: no credentials → 401`, async (t) => {
    const response = await app.request(path);
    t.is(response.status, 401);
    t.deepEqual(response.body, UNAUTHORIZED);
  });
  test(`GET ${path}: a token without a read scope → 403`, async (t) => {
    const response = await app.request(path, { token: readRepository });
    t.is(response.status, 403);
    t.deepEqual(response.body, insufficientScope('api read_api'));
  });
}

for (const [path, error] of [
  ['/api/v4/namespaces?per_page=0', 'per_page has a value not allowed'],
  ['/api/v4/namespaces?owned_only=maybe', 'owned_only is invalid'],
  ['/api/v4/namespaces?top_level_only=maybe', 'top_level_only is invalid'],
  ['/api/v4/namespaces/root/exists?parent_id=abc', 'parent_id is invalid'],
]) {
  test(`GET ${path}: 400 "${error}"`, async (t) => {
    const response = await app.request(path, { token: ROOT_TOKEN });
    t.is(response.status, 400);
    t.deepEqual(response.body, { error });
  });
}

// ---------------------------------------------------------------- GET /namespaces

test('GET /namespaces lists a user\'s personal namespace and the groups they belong to, with counts where they own', async (t) => {
  const owner = await createUserWithToken(app, ['read_api']);
  const member = await createUserWithToken(app, ['read_api']);
  const stranger = await createUserWithToken(app, ['api']);
  const owned = await createGroup(stranger, unique('owned'));
  await addMember(stranger, owned.id, owner.user.id, 50);
  const joined = await createGroup(stranger, unique('joined'));
  await addMember(stranger, joined.id, owner.user.id, 30);
  const sub = await createGroup(stranger, unique('sub'), owned.id);
  await addMember(stranger, sub.id, member.user.id, 10);
  await createGroup(stranger, unique('unrelated'));
  const project = await app.request('/api/v4/projects', { method: 'POST', token: stranger.plaintext, body: { name: 'inside', namespace_id: sub.id } });
  t.is(project.status, 201);

  const response = await app.request('/api/v4/namespaces', { token: owner.plaintext });
  t.is(response.status, 200);
  // The owned group counts its members and its subgroups' (stranger, owner, member) and their projects.
  t.deepEqual(response.body, [
    await personalNamespace(owner.user),
    groupNamespace(owned, null, { members: 3, projects: 1 }),
    groupNamespace(joined),
  ]);
  t.is(response.headers.get('x-total'), '3');

  const ownedOnly = await app.request('/api/v4/namespaces?owned_only=true', { token: owner.plaintext });
  t.deepEqual(
    ownedOnly.body.map((ns: { id: number }) => ns.id),
    [(await personalNamespace(owner.user)).id, owned.id],
  );

  // Direct membership only: a subgroup member sees the subgroup, not its parent.
  const asMember = await app.request('/api/v4/namespaces', { token: member.plaintext });
  t.deepEqual(asMember.body, [await personalNamespace(member.user), groupNamespace(sub, owned.id)]);
});

test('GET /namespaces filters by search (path or name, or full path) and top level', async (t) => {
  const owner = await createUserWithToken(app, ['api']);
  const tag = unique('srch');
  const parent = await createGroup(owner, `${tag}-parent`);
  const child = await createGroup(owner, `${tag}-child`, parent.id);

  const search = await app.request(`/api/v4/namespaces?search=${tag.toUpperCase()}`, { token: owner.plaintext });
  t.deepEqual(
    search.body.map((ns: { id: number }) => ns.id),
    [parent.id, child.id],
  );
  const top = await app.request(`/api/v4/namespaces?search=${tag}&top_level_only=true`, { token: owner.plaintext });
  t.deepEqual(
    top.body.map((ns: { id: number }) => ns.id),
    [parent.id],
  );
  const fullPath = await app.request(`/api/v4/namespaces?search=${encodeURIComponent(`${tag}-parent/${tag}-ch`)}&full_path_search=true`, { token: owner.plaintext });
  t.deepEqual(
    fullPath.body.map((ns: { id: number }) => ns.id),
    [child.id],
  );
  const wildcard = await app.request('/api/v4/namespaces?search=%25', { token: owner.plaintext });
  t.deepEqual(wildcard.body, []);
});

// Serial: it counts every namespace, which the concurrent tests add to.
test.serial('GET /namespaces: a user with the admin flag lists every namespace, paginated', async (t) => {
  const owner = await createUserWithToken(app, ['api']);
  await createGroup(owner, unique('every'));
  const total = Number((await app.db('directory_namespaces').count({ n: '*' }).first())!.n);
  const response = await app.request('/api/v4/namespaces?per_page=2', { token: ROOT_TOKEN });
  t.is(response.status, 200);
  t.is(response.body.length, 2);
  t.is(response.headers.get('x-total'), String(total));
  t.is(response.headers.get('x-next-page'), '2');
  t.true(response.headers.get('link')!.includes(`<${EXTERNAL_URL}/api/v4/namespaces?per_page=2&page=2>; rel="next"`));
});

// ---------------------------------------------------------------- GET /namespaces/:id

test('GET /namespaces/:id shows a namespace read through membership, by id or path; others are 404', async (t) => {
  const owner = await createUserWithToken(app, ['api']);
  const member = await createUserWithToken(app, ['read_api']);
  const stranger = await createUserWithToken(app, ['api']);
  const group = await createGroup(owner, unique('show'));
  const sub = await createGroup(owner, unique('showsub'), group.id);
  await addMember(owner, group.id, member.user.id, 20);

  const byId = await app.request(`/api/v4/namespaces/${sub.id}`, { token: member.plaintext });
  t.is(byId.status, 200);
  // Inherited membership reads the subgroup; only owners see the counts.
  t.deepEqual(byId.body, groupNamespace(sub, group.id));
  const byPath = await app.request(`/api/v4/namespaces/${encodeURIComponent(sub.full_path)}`, { token: owner.plaintext });
  t.deepEqual(byPath.body, groupNamespace(sub, group.id, { members: 1, projects: 0 }));
  const asAdmin = await app.request(`/api/v4/namespaces/${group.id}`, { token: ROOT_TOKEN });
  t.deepEqual(asAdmin.body, groupNamespace(group, null, { members: 2, projects: 0 }));

  const own = await app.request(`/api/v4/namespaces/${owner.user.username}`, { token: owner.plaintext });
  t.deepEqual(own.body, await personalNamespace(owner.user));

  for (const ref of [String(group.id), group.full_path, owner.user.username, '99999999', 'no/such/path']) {
    const response = await app.request(`/api/v4/namespaces/${encodeURIComponent(ref)}`, { token: stranger.plaintext });
    t.is(response.status, 404, ref);
    t.deepEqual(response.body, NAMESPACE_NOT_FOUND, ref);
  }
});

// ---------------------------------------------------------------- GET /namespaces/:id/exists

test('GET /namespaces/:id/exists says whether the path is taken at that level and suggests a free one', async (t) => {
  const owner = await createUserWithToken(app, ['api']);
  const path = unique('Exists');
  const group = await createGroup(owner, path);
  await createGroup(owner, `${path}1`);

  const taken = await app.request(`/api/v4/namespaces/${path.toLowerCase()}/exists`, { token: owner.plaintext });
  t.is(taken.status, 200);
  t.deepEqual(taken.body, { exists: true, suggests: [`${path.toLowerCase()}2`] });

  const free = await app.request(`/api/v4/namespaces/${path}-free/exists`, { token: owner.plaintext });
  t.deepEqual(free.body, { exists: false, suggests: [] });

  // A user's personal namespace is a top-level path too.
  const username = await app.request(`/api/v4/namespaces/${owner.user.username}/exists`, { token: owner.plaintext });
  t.deepEqual(username.body, { exists: true, suggests: [`${owner.user.username}1`] });

  // Under a parent, only that parent's children count.
  const underParent = await app.request(`/api/v4/namespaces/${path}/exists?parent_id=${group.id}`, { token: owner.plaintext });
  t.deepEqual(underParent.body, { exists: false, suggests: [] });
  await createGroup(owner, 'child', group.id);
  const child = await app.request(`/api/v4/namespaces/child/exists?parent_id=${group.id}`, { token: owner.plaintext });
  t.deepEqual(child.body, { exists: true, suggests: ['child1'] });
});

test('GET /namespaces/:id/exists is limited to 20 checks a minute per user', async (t) => {
  const { plaintext } = await createUserWithToken(app, ['api']);
  for (let i = 0; i < 20; i++) t.is((await app.request('/api/v4/namespaces/anything/exists', { token: plaintext })).status, 200);
  const limited = await app.request('/api/v4/namespaces/anything/exists', { token: plaintext });
  t.is(limited.status, 429);
  t.deepEqual(limited.body, RATE_LIMITED);
  t.is(limited.headers.get('retry-after'), '60');
});
