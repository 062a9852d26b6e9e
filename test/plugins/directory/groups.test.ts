import test from 'ava';
import { startTestApp, ROOT_TOKEN, EXTERNAL_URL, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { toDate } from '../../../core/util/time.js';
import { FORBIDDEN, UNAUTHORIZED, insufficientScope } from '../../helpers/gitlab-errors.js';

const NOW = '2026-11-22T10:00:00.000Z';
const GROUP_NOT_FOUND = { message: '404 Group Not Found' };
const USER_NOT_FOUND = { message: '404 User Not Found' };
const PATH_TAKEN = { message: { path: ['has already been taken'] } };
const NAMESPACE_PATH_MESSAGE = "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-' or end in '.', '.git' or '.atom'.";
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

async function newUser(scopes: string[] = ['api'], options: { admin?: boolean } = {}): Promise<TestUser> {
  const { user, plaintext } = await createUserWithToken(app, scopes, options);
  return { id: user.id, username: user.username, name: user.name, token: plaintext };
}

async function createGroup(token: string, body: Record<string, unknown>) {
  const response = await app.request('/api/v4/groups', { method: 'POST', token, body });
  if (response.status !== 201) throw new Error(`creating a group failed: ${response.status} ${response.text}`);
  return response.body as { id: number; full_path: string; name: string; path: string };
}

async function addGroupMember(groupId: number, userId: number, accessLevel: number) {
  const response = await app.request(`/api/v4/groups/${groupId}/members`, {
    method: 'POST',
    token: ROOT_TOKEN,
    body: { user_id: userId, access_level: accessLevel },
  });
  if (response.status !== 201) throw new Error(`adding a member failed: ${response.status} ${response.text}`);
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

const namespaceRow = async (id: number) => normalize(await app.db('directory_namespaces').where({ id }).first());
const memberRows = async (sourceId: number) =>
  (await app.db('directory_members').where({ source_type: 'namespace', source_id: sourceId }).orderBy('id')).map((row) =>
    normalize({ user_id: row.user_id, access_level: row.access_level, created_at: row.created_at }),
  );

/** The group entity the API answers for a freshly created group. */
function groupEntity(fields: { id: number; name: string; path: string; full_path: string; full_name: string } & Record<string, unknown>) {
  return {
    web_url: `${EXTERNAL_URL}/groups/${fields.full_path}`,
    description: '',
    visibility: 'private',
    parent_id: null,
    created_at: NOW,
    code_suggestions: true,
    marked_for_deletion_on: null,
    ...fields,
  };
}

// ---------------------------------------------------------------- auth matrix (every route)

const ROUTES: Array<[string, string]> = [
  ['POST', '/api/v4/groups'],
  ['PUT', '/api/v4/groups/1'],
  ['POST', '/api/v4/groups/1/members'],
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

// ---------------------------------------------------------------- POST /groups

test('POST /groups creates a private group owned by its creator', async (t) => {
  const alice = await newUser();
  const path = unique('team');
  const response = await app.request('/api/v4/groups', {
    method: 'POST',
    token: alice.token,
    body: { name: 'Team Rocket', path, description: 'we blast off' },
  });
  t.is(response.status, 201);
  const id = response.body.id;
  t.deepEqual(response.body, groupEntity({ id, name: 'Team Rocket', path, full_path: path, full_name: 'Team Rocket', description: 'we blast off' }));

  t.deepEqual(await namespaceRow(id), {
    id,
    kind: 'group',
    name: 'Team Rocket',
    path,
    full_path: path,
    full_path_lower: path.toLowerCase(),
    parent_id: null,
    owner_id: null,
    description: 'we blast off',
    visibility: 'private',
    code_suggestions: true,
    created_at: NOW,
    updated_at: NOW,
    marked_for_deletion_at: null,
  });
  t.deepEqual(await memberRows(id), [{ user_id: alice.id, access_level: 50, created_at: NOW }]);
});

test('POST /groups takes visibility, code_suggestions and form-encoded bodies', async (t) => {
  const alice = await newUser();
  const path = unique('open');
  const response = await app.request('/api/v4/groups', {
    method: 'POST',
    token: alice.token,
    form: { name: 'Open', path, visibility: 'public', code_suggestions: 'false' },
  });
  t.is(response.status, 201);
  t.deepEqual(
    response.body,
    groupEntity({ id: response.body.id, name: 'Open', path, full_path: path, full_name: 'Open', visibility: 'public', code_suggestions: false }),
  );
  const row = await namespaceRow(response.body.id);
  t.is(row!.visibility, 'public');
  t.is(row!.code_suggestions, false);
});

test('POST /groups without name and path is a Grape 400', async (t) => {
  const response = await app.request('/api/v4/groups', { method: 'POST', token: ROOT_TOKEN, body: {} });
  t.is(response.status, 400);
  t.deepEqual(response.body, { error: 'name is missing, path is missing' });
});

test('POST /groups with an unknown visibility or a non-integer parent_id is a Grape 400', async (t) => {
  const response = await app.request('/api/v4/groups', {
    method: 'POST',
    token: ROOT_TOKEN,
    body: { name: 'x', path: unique('x'), parent_id: 'abc', visibility: 'secret', code_suggestions: 'maybe' },
  });
  t.is(response.status, 400);
  t.deepEqual(response.body, { error: 'parent_id is invalid, visibility does not have a valid value, code_suggestions is invalid' });
});

test('POST /groups refuses paths GitLab refuses, with its model error', async (t) => {
  for (const path of ['-dash', 'dot.', 'repo.git', 'feed.atom', 'sp ace', 'sl/ash']) {
    const response = await app.request('/api/v4/groups', { method: 'POST', token: ROOT_TOKEN, body: { name: 'Bad', path } });
    t.is(response.status, 400, path);
    t.deepEqual(response.body, { message: { path: [NAMESPACE_PATH_MESSAGE] } }, path);
  }
  t.is((await app.db('directory_namespaces').where({ name: 'Bad' })).length, 0);
});

test('POST /groups accepts dots, underscores and dashes inside a path', async (t) => {
  const path = `${unique('a.b_c')}-d`;
  const response = await app.request('/api/v4/groups', { method: 'POST', token: ROOT_TOKEN, body: { name: 'Fine (really)', path } });
  t.is(response.status, 201);
  t.is(response.body.full_path, path);
});

test('POST /groups refuses a blank or malformed name', async (t) => {
  const response = await app.request('/api/v4/groups', { method: 'POST', token: ROOT_TOKEN, body: { name: '', path: unique('n') } });
  t.is(response.status, 400);
  t.deepEqual(response.body, {
    message: {
      name: [
        "can't be blank",
        "can contain only letters, digits, emoji, '_', '.', dash, space, parenthesis. It must start with letter, digit, emoji or '_'.",
      ],
    },
  });
});

test('POST /groups with a taken path (any case) is 400 path has already been taken', async (t) => {
  const path = unique('dupe');
  await createGroup(ROOT_TOKEN, { name: 'First', path });
  const response = await app.request('/api/v4/groups', { method: 'POST', token: ROOT_TOKEN, body: { name: 'Second', path: path.toUpperCase() } });
  t.is(response.status, 400);
  t.deepEqual(response.body, PATH_TAKEN);
  t.is((await app.db('directory_namespaces').where({ full_path_lower: path })).length, 1);
});

test('POST /groups cannot take a username: personal namespaces share the path space', async (t) => {
  const bob = await newUser();
  const response = await app.request('/api/v4/groups', { method: 'POST', token: ROOT_TOKEN, body: { name: 'Bob', path: bob.username } });
  t.is(response.status, 400);
  t.deepEqual(response.body, PATH_TAKEN);
});

test('POST /groups with parent_id creates a subgroup under an owned parent', async (t) => {
  const alice = await newUser();
  const parent = await createGroup(alice.token, { name: 'Parent', path: unique('parent') });
  const response = await app.request('/api/v4/groups', {
    method: 'POST',
    token: alice.token,
    body: { name: 'Child', path: 'child', parent_id: parent.id },
  });
  t.is(response.status, 201);
  const id = response.body.id;
  t.deepEqual(
    response.body,
    groupEntity({ id, name: 'Child', path: 'child', full_path: `${parent.full_path}/child`, full_name: 'Parent / Child', parent_id: parent.id }),
  );
  t.like(await namespaceRow(id), { parent_id: parent.id, full_path: `${parent.full_path}/child`, kind: 'group' });
  t.deepEqual(await memberRows(id), [{ user_id: alice.id, access_level: 50, created_at: NOW }]);

  // The same path under another parent is fine; under the same parent it is taken.
  const again = await app.request('/api/v4/groups', { method: 'POST', token: alice.token, body: { name: 'Child', path: 'child', parent_id: parent.id } });
  t.is(again.status, 400);
  t.deepEqual(again.body, PATH_TAKEN);
});

test('POST /groups under a visible parent the caller does not own is 403; under an invisible one 404', async (t) => {
  const owner = await newUser();
  const maintainer = await newUser();
  const stranger = await newUser();
  const parent = await createGroup(owner.token, { name: 'Parent', path: unique('guarded') });
  await addGroupMember(parent.id, maintainer.id, 40);

  const forbidden = await app.request('/api/v4/groups', {
    method: 'POST',
    token: maintainer.token,
    body: { name: 'Child', path: 'child', parent_id: parent.id },
  });
  t.is(forbidden.status, 403);
  t.deepEqual(forbidden.body, FORBIDDEN);

  const hidden = await app.request('/api/v4/groups', {
    method: 'POST',
    token: stranger.token,
    body: { name: 'Child', path: 'child', parent_id: parent.id },
  });
  t.is(hidden.status, 404);
  t.deepEqual(hidden.body, GROUP_NOT_FOUND);

  const missing = await app.request('/api/v4/groups', { method: 'POST', token: ROOT_TOKEN, body: { name: 'C', path: 'c', parent_id: 999999 } });
  t.is(missing.status, 404);
  t.deepEqual(missing.body, GROUP_NOT_FOUND);
  t.is((await app.db('directory_namespaces').where({ parent_id: parent.id })).length, 0);
});

test('POST /groups: an admin may create a subgroup anywhere and becomes its owner', async (t) => {
  const owner = await newUser();
  const parent = await createGroup(owner.token, { name: 'Parent', path: unique('adm') });
  const response = await app.request('/api/v4/groups', { method: 'POST', token: ROOT_TOKEN, body: { name: 'Sub', path: 'sub', parent_id: parent.id } });
  t.is(response.status, 201);
  const root = await app.db('directory_users').where({ username: 'root' }).first();
  t.deepEqual(await memberRows(response.body.id), [{ user_id: root.id, access_level: 50, created_at: NOW }]);
});

test('POST /groups: a subgroup cannot be more visible than its parent', async (t) => {
  const parent = await createGroup(ROOT_TOKEN, { name: 'Internal', path: unique('int'), visibility: 'internal' });
  const response = await app.request('/api/v4/groups', {
    method: 'POST',
    token: ROOT_TOKEN,
    body: { name: 'Pub', path: 'pub', parent_id: parent.id, visibility: 'public' },
  });
  t.is(response.status, 400);
  t.deepEqual(response.body, { message: { visibility_level: ['public is not allowed since the parent group has a internal visibility.'] } });
});

// ---------------------------------------------------------------- GET /groups/:id

test('GET /groups/:id by id and by URL-encoded full path, with a read_api token', async (t) => {
  const alice = await newUser(['api']);
  const reader = await createUserWithToken(app, ['read_api'], {});
  const parent = await createGroup(alice.token, { name: 'Parent', path: unique('p') });
  const child = await createGroup(alice.token, { name: 'Child', path: 'Child', parent_id: parent.id });
  await addGroupMember(parent.id, reader.user.id, 10);

  const expected = groupEntity({
    id: child.id,
    name: 'Child',
    path: 'Child',
    full_path: `${parent.full_path}/Child`,
    full_name: 'Parent / Child',
    parent_id: parent.id,
  });
  const byId = await app.request(`/api/v4/groups/${child.id}`, { token: reader.plaintext });
  t.is(byId.status, 200);
  t.deepEqual(byId.body, expected);

  const byPath = await app.request(`/api/v4/groups/${encodeURIComponent(`${parent.full_path}/child`)}`, { token: reader.plaintext });
  t.is(byPath.status, 200, 'paths are case-insensitive');
  t.deepEqual(byPath.body, expected);
});

test('GET /groups/:id hides private groups from non-members: 404, never 403', async (t) => {
  const owner = await newUser();
  const stranger = await newUser();
  const group = await createGroup(owner.token, { name: 'Secret', path: unique('secret') });
  for (const ref of [String(group.id), encodeURIComponent(group.full_path), '999999', 'no%2Fsuch']) {
    const response = await app.request(`/api/v4/groups/${ref}`, { token: stranger.token });
    t.is(response.status, 404, ref);
    t.deepEqual(response.body, GROUP_NOT_FOUND, ref);
  }
});

test('GET /groups/:id shows internal groups to any user, public ones to all, everything to admins', async (t) => {
  const owner = await newUser();
  const stranger = await newUser(['read_api']);
  const internal = await createGroup(owner.token, { name: 'Internal', path: unique('in'), visibility: 'internal' });
  const pub = await createGroup(owner.token, { name: 'Public', path: unique('pub'), visibility: 'public' });
  const secret = await createGroup(owner.token, { name: 'Secret', path: unique('sec') });
  t.is((await app.request(`/api/v4/groups/${internal.id}`, { token: stranger.token })).status, 200);
  t.is((await app.request(`/api/v4/groups/${pub.id}`, { token: stranger.token })).status, 200);
  t.is((await app.request(`/api/v4/groups/${secret.id}`, { token: ROOT_TOKEN })).status, 200);
});

test('GET /groups/:id: members of an ancestor see private subgroups', async (t) => {
  const owner = await newUser();
  const guest = await newUser();
  const top = await createGroup(owner.token, { name: 'Top', path: unique('top') });
  const mid = await createGroup(owner.token, { name: 'Mid', path: 'mid', parent_id: top.id });
  const leaf = await createGroup(owner.token, { name: 'Leaf', path: 'leaf', parent_id: mid.id });
  t.is((await app.request(`/api/v4/groups/${leaf.id}`, { token: guest.token })).status, 404);
  await addGroupMember(top.id, guest.id, 10);
  const response = await app.request(`/api/v4/groups/${encodeURIComponent(`${top.full_path}/mid/leaf`)}`, { token: guest.token });
  t.is(response.status, 200);
  t.is(response.body.full_name, 'Top / Mid / Leaf');
  // Membership in a subgroup does not reveal its private parent.
  const other = await newUser();
  await addGroupMember(leaf.id, other.id, 50);
  t.is((await app.request(`/api/v4/groups/${top.id}`, { token: other.token })).status, 404);
});

test('GET /groups/:id does not serve personal namespaces', async (t) => {
  const alice = await newUser();
  const namespace = await app.db('directory_namespaces').where({ kind: 'user', owner_id: alice.id }).first();
  for (const ref of [String(namespace.id), alice.username]) {
    const response = await app.request(`/api/v4/groups/${ref}`, { token: alice.token });
    t.is(response.status, 404);
    t.deepEqual(response.body, GROUP_NOT_FOUND);
  }
});

// ---------------------------------------------------------------- PUT /groups/:id

test('PUT /groups/:id: an owner updates name, description, visibility and code_suggestions', async (t) => {
  const alice = await newUser();
  const group = await createGroup(alice.token, { name: 'Before', path: unique('upd') });
  const response = await app.request(`/api/v4/groups/${group.id}`, {
    method: 'PUT',
    token: alice.token,
    body: { name: 'After', description: 'new words', visibility: 'internal', code_suggestions: false },
  });
  t.is(response.status, 200);
  t.deepEqual(
    response.body,
    groupEntity({
      id: group.id,
      name: 'After',
      path: group.path,
      full_path: group.full_path,
      full_name: 'After',
      description: 'new words',
      visibility: 'internal',
      code_suggestions: false,
    }),
  );
  t.like(await namespaceRow(group.id), { name: 'After', description: 'new words', visibility: 'internal', code_suggestions: false, path: group.path });
});

test('PUT /groups/:id: an owner of an ancestor may update a subgroup; admins may update any group', async (t) => {
  const owner = await newUser();
  const heir = await newUser();
  const top = await createGroup(owner.token, { name: 'Top', path: unique('inh') });
  const sub = await createGroup(owner.token, { name: 'Sub', path: 'sub', parent_id: top.id });
  await addGroupMember(top.id, heir.id, 50);
  const byHeir = await app.request(`/api/v4/groups/${sub.id}`, { method: 'PUT', token: heir.token, body: { description: 'inherited' } });
  t.is(byHeir.status, 200);
  t.is(byHeir.body.description, 'inherited');
  const byAdmin = await app.request(`/api/v4/groups/${encodeURIComponent(sub.full_path)}`, { method: 'PUT', token: ROOT_TOKEN, body: { name: 'Sub2' } });
  t.is(byAdmin.status, 200);
  t.is(byAdmin.body.full_name, 'Top / Sub2');
});

test('PUT /groups/:id: maintainers and internal-group onlookers get 403, outsiders of private groups 404', async (t) => {
  const owner = await newUser();
  const maintainer = await newUser();
  const onlooker = await newUser();
  const group = await createGroup(owner.token, { name: 'Guarded', path: unique('grd') });
  const internal = await createGroup(owner.token, { name: 'Open', path: unique('opn'), visibility: 'internal' });
  await addGroupMember(group.id, maintainer.id, 40);

  const byMaintainer = await app.request(`/api/v4/groups/${group.id}`, { method: 'PUT', token: maintainer.token, body: { name: 'Mine' } });
  t.is(byMaintainer.status, 403);
  t.deepEqual(byMaintainer.body, FORBIDDEN);
  const byOnlooker = await app.request(`/api/v4/groups/${internal.id}`, { method: 'PUT', token: onlooker.token, body: { name: 'Mine' } });
  t.is(byOnlooker.status, 403);
  t.deepEqual(byOnlooker.body, FORBIDDEN);
  const byOutsider = await app.request(`/api/v4/groups/${group.id}`, { method: 'PUT', token: onlooker.token, body: { name: 'Mine' } });
  t.is(byOutsider.status, 404);
  t.deepEqual(byOutsider.body, GROUP_NOT_FOUND);
  t.is((await namespaceRow(group.id))!.name, 'Guarded');
  t.is((await namespaceRow(internal.id))!.name, 'Open');
});

test('PUT /groups/:id with a bad visibility is a Grape 400', async (t) => {
  const group = await createGroup(ROOT_TOKEN, { name: 'V', path: unique('v') });
  const response = await app.request(`/api/v4/groups/${group.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { visibility: 'everyone' } });
  t.is(response.status, 400);
  t.deepEqual(response.body, { error: 'visibility does not have a valid value' });
});

test('PUT /groups/:id cannot make a group less visible than its projects or subgroups, nor more than its parent', async (t) => {
  const top = await createGroup(ROOT_TOKEN, { name: 'Top', path: unique('vis'), visibility: 'public' });
  const sub = await createGroup(ROOT_TOKEN, { name: 'Sub', path: 'sub', parent_id: top.id, visibility: 'internal' });
  const project = await app.request('/api/v4/projects', {
    method: 'POST',
    token: ROOT_TOKEN,
    body: { path: 'proj', namespace_id: sub.id, visibility: 'internal' },
  });
  t.is(project.status, 201);

  const lowerTop = await app.request(`/api/v4/groups/${top.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { visibility: 'private' } });
  t.is(lowerTop.status, 400);
  t.deepEqual(lowerTop.body, { message: { visibility_level: ['private is not allowed since there are sub-groups with higher visibility.'] } });

  const lowerSub = await app.request(`/api/v4/groups/${sub.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { visibility: 'private' } });
  t.is(lowerSub.status, 400);
  t.deepEqual(lowerSub.body, { message: { visibility_level: ['private is not allowed since this group contains projects with higher visibility.'] } });

  await app.request(`/api/v4/projects/${project.body.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { visibility: 'private' } });
  const lowered = await app.request(`/api/v4/groups/${sub.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { visibility: 'private' } });
  t.is(lowered.status, 200);
  t.is(lowered.body.visibility, 'private');

  const raise = await app.request(`/api/v4/groups/${sub.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { visibility: 'public' } });
  t.is(raise.status, 200, 'the parent is public, so is allowed');
  const privateTop = await createGroup(ROOT_TOKEN, { name: 'P', path: unique('pv') });
  const child = await createGroup(ROOT_TOKEN, { name: 'C', path: 'c', parent_id: privateTop.id });
  const tooOpen = await app.request(`/api/v4/groups/${child.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { visibility: 'internal' } });
  t.is(tooOpen.status, 400);
  t.deepEqual(tooOpen.body, { message: { visibility_level: ['internal is not allowed since the parent group has a private visibility.'] } });
  t.is((await namespaceRow(child.id))!.visibility, 'private');
});

// ---------------------------------------------------------------- POST /groups/:id/members

test('POST /groups/:id/members adds a member by user_id; the body is the member entity with the user id', async (t) => {
  const owner = await newUser();
  const bob = await newUser();
  const group = await createGroup(owner.token, { name: 'Crew', path: unique('crew') });
  const response = await app.request(`/api/v4/groups/${group.id}/members`, {
    method: 'POST',
    token: owner.token,
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
  t.deepEqual(await memberRows(group.id), [
    { user_id: owner.id, access_level: 50, created_at: NOW },
    { user_id: bob.id, access_level: 30, created_at: NOW },
  ]);
});

test('POST /groups/:id/members adds a member by username (form-encoded), and refuses a second time with 409', async (t) => {
  const owner = await newUser();
  const bob = await newUser();
  const group = await createGroup(owner.token, { name: 'Crew', path: unique('crew') });
  const response = await app.request(`/api/v4/groups/${encodeURIComponent(group.full_path)}/members`, {
    method: 'POST',
    token: owner.token,
    form: { username: bob.username, access_level: '15' },
  });
  t.is(response.status, 201);
  t.like(response.body, { id: bob.id, username: bob.username, access_level: 15 });

  const again = await app.request(`/api/v4/groups/${group.id}/members`, { method: 'POST', token: owner.token, body: { user_id: bob.id, access_level: 40 } });
  t.is(again.status, 409);
  t.deepEqual(again.body, { message: 'Member already exists' });
  const rows = await memberRows(group.id);
  t.deepEqual(rows.find((row) => row!.user_id === bob.id), { user_id: bob.id, access_level: 15, created_at: NOW });
});

test('POST /groups/:id/members validates like Grape', async (t) => {
  const group = await createGroup(ROOT_TOKEN, { name: 'Val', path: unique('val') });
  const cases: Array<[Record<string, unknown>, string]> = [
    [{}, 'access_level is missing, user_id, username are missing, at least one parameter must be provided'],
    [{ user_id: 1 }, 'access_level is missing'],
    [{ user_id: 1, access_level: 'owner' }, 'access_level is invalid'],
    [{ access_level: 30 }, 'user_id, username are missing, at least one parameter must be provided'],
    [{ user_id: 'bob', access_level: 30 }, 'user_id is invalid'],
  ];
  for (const [body, error] of cases) {
    const response = await app.request(`/api/v4/groups/${group.id}/members`, { method: 'POST', token: ROOT_TOKEN, body });
    t.is(response.status, 400, JSON.stringify(body));
    t.deepEqual(response.body, { error }, JSON.stringify(body));
  }
});

test('POST /groups/:id/members: unknown users are 404 User Not Found', async (t) => {
  const group = await createGroup(ROOT_TOKEN, { name: 'U', path: unique('u') });
  for (const body of [{ user_id: 999999, access_level: 30 }, { username: 'nobody-at-all', access_level: 30 }]) {
    const response = await app.request(`/api/v4/groups/${group.id}/members`, { method: 'POST', token: ROOT_TOKEN, body });
    t.is(response.status, 404);
    t.deepEqual(response.body, USER_NOT_FOUND);
  }
});

test('POST /groups/:id/members needs owner: maintainers 403, outsiders 404, inherited owners and admins allowed', async (t) => {
  const owner = await newUser();
  const maintainer = await newUser();
  const outsider = await newUser();
  const heir = await newUser();
  const target = await newUser();
  const top = await createGroup(owner.token, { name: 'Top', path: unique('mem') });
  const sub = await createGroup(owner.token, { name: 'Sub', path: 'sub', parent_id: top.id });
  await addGroupMember(sub.id, maintainer.id, 40);
  await addGroupMember(top.id, heir.id, 50);

  const byMaintainer = await app.request(`/api/v4/groups/${sub.id}/members`, {
    method: 'POST',
    token: maintainer.token,
    body: { user_id: target.id, access_level: 10 },
  });
  t.is(byMaintainer.status, 403);
  t.deepEqual(byMaintainer.body, FORBIDDEN);
  const byOutsider = await app.request(`/api/v4/groups/${sub.id}/members`, {
    method: 'POST',
    token: outsider.token,
    body: { user_id: target.id, access_level: 10 },
  });
  t.is(byOutsider.status, 404);
  t.deepEqual(byOutsider.body, GROUP_NOT_FOUND);
  t.false((await memberRows(sub.id)).some((row) => row!.user_id === target.id));

  const byHeir = await app.request(`/api/v4/groups/${sub.id}/members`, { method: 'POST', token: heir.token, body: { user_id: target.id, access_level: 50 } });
  t.is(byHeir.status, 201);
  t.is(byHeir.body.access_level, 50);
});

// ---------------------------------------------------------------- services

test('UsersService.create gives every user a personal namespace (root included)', async (t) => {
  const alice = await newUser();
  const row = normalize(await app.db('directory_namespaces').where({ kind: 'user', owner_id: alice.id }).first());
  t.deepEqual(row, {
    id: row!.id,
    kind: 'user',
    name: alice.name,
    path: alice.username,
    full_path: alice.username,
    full_path_lower: alice.username.toLowerCase(),
    parent_id: null,
    owner_id: alice.id,
    description: '',
    visibility: 'private',
    code_suggestions: true,
    created_at: NOW,
    updated_at: NOW,
    marked_for_deletion_at: null,
  });
  const projects = app.services.directory.projects;
  t.is((await projects.findUserNamespace(alice.id)).id, row!.id);
  t.is((await projects.findNamespaceByPath(alice.username.toUpperCase())).id, row!.id);
  t.is((await projects.findNamespaceByPath('root')).kind, 'user');
});

test('UsersService.create refuses a username that a group already holds, and stores nothing', async (t) => {
  const path = unique('taken');
  await createGroup(ROOT_TOKEN, { name: 'Taken', path });
  const error = await t.throwsAsync(
    app.services.directory.users.create({ username: path, name: 'Clash', email: `${path}@example.com`, password: 'correct-horse-battery' }),
  );
  t.is((error as any).status, 409);
  t.deepEqual((error as any).body, { message: 'Username has already been taken' });
  t.is(await app.db('directory_users').where({ username: path }).first(), undefined);
});

test('namespace lookups, lineage and access levels through the service', async (t) => {
  const projects = app.services.directory.projects;
  const owner = await newUser();
  const dev = await newUser();
  const top = await createGroup(owner.token, { name: 'Top', path: unique('svc') });
  const mid = await createGroup(owner.token, { name: 'Mid', path: 'mid', parent_id: top.id });
  const leaf = await createGroup(owner.token, { name: 'Leaf', path: 'leaf', parent_id: mid.id });
  await addGroupMember(mid.id, dev.id, 30);

  const leafNs = await projects.findNamespaceByPath(`/${top.full_path.toUpperCase()}/mid/leaf/`);
  t.is(leafNs.id, leaf.id);
  t.is((await projects.findNamespaceById(mid.id)).fullPath, `${top.full_path}/mid`);
  t.deepEqual(
    (await projects.lineageOf(leafNs)).map((ns: { id: number }) => ns.id),
    [top.id, mid.id, leaf.id],
  );
  t.is(await projects.namespaceAccessLevel(dev.id, leafNs), 30);
  t.is(await projects.namespaceAccessLevel(dev.id, await projects.findNamespaceById(top.id)), 0);
  t.is(await projects.namespaceAccessLevel(owner.id, leafNs), 50);
  t.true(await projects.canReadNamespace({ id: dev.id, isAdmin: false, state: 'active' }, leafNs));
  t.false(await projects.canReadNamespace({ id: dev.id, isAdmin: false, state: 'blocked' }, leafNs));
  t.false(await projects.canReadNamespace(null, leafNs));
  t.is(await projects.findNamespaceByPath('does/not/exist'), undefined);
});

test('codeSuggestionsEnabled is false when the namespace or any ancestor switched it off', async (t) => {
  const projects = app.services.directory.projects;
  const top = await createGroup(ROOT_TOKEN, { name: 'Top', path: unique('cs') });
  const mid = await createGroup(ROOT_TOKEN, { name: 'Mid', path: 'mid', parent_id: top.id });
  const leaf = await createGroup(ROOT_TOKEN, { name: 'Leaf', path: 'leaf', parent_id: mid.id });
  const leafNs = () => projects.findNamespaceById(leaf.id);
  t.true(await projects.codeSuggestionsEnabled(await leafNs()));

  await app.request(`/api/v4/groups/${mid.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { code_suggestions: false } });
  t.false(await projects.codeSuggestionsEnabled(await leafNs()));
  t.true(await projects.codeSuggestionsEnabled(await projects.findNamespaceById(top.id)));
  t.true((await leafNs()).codeSuggestions, "the leaf's own setting is untouched");

  await app.request(`/api/v4/groups/${mid.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { code_suggestions: true } });
  await app.request(`/api/v4/groups/${leaf.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { code_suggestions: false } });
  t.false(await projects.codeSuggestionsEnabled(await leafNs()));
  t.true(await projects.codeSuggestionsEnabled(await projects.findNamespaceById(mid.id)));
});
