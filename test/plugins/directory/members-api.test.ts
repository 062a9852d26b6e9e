import test from 'ava';
import { startTestApp, ROOT_TOKEN, EXTERNAL_URL, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { FORBIDDEN, UNAUTHORIZED, insufficientScope } from '../../helpers/gitlab-errors.js';

const NOW = '2026-11-22T10:00:00.000Z';
const MEMBER_NOT_FOUND = { message: '404 Not found' };
const NOT_INCLUDED = { message: { access_level: ['is not included in the list'] } };

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

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

async function post(path: string, token: string, body: Record<string, unknown>) {
  const response = await app.request(path, { method: 'POST', token, body });
  if (response.status !== 201) throw new Error(`POST ${path} failed: ${response.status} ${response.text}`);
  return response.body;
}

/** A group owned by `owner` with a member at each named level, and a subgroup with its own members. */
async function team(levels: Record<string, number> = {}) {
  const owner = await newUser();
  const group = await post('/api/v4/groups', owner.token, { name: 'Team', path: unique('team') });
  const users: Record<string, TestUser> = {};
  for (const [role, level] of Object.entries(levels)) {
    users[role] = await newUser();
    await post(`/api/v4/groups/${group.id}/members`, owner.token, { user_id: users[role].id, access_level: level });
  }
  return { owner, group, users };
}

const memberRow = (sourceType: string, sourceId: number, userId: number) =>
  app.db('directory_members').where({ source_type: sourceType, source_id: sourceId, user_id: userId }).first();

function memberEntity(user: TestUser, accessLevel: number, extra: Record<string, unknown> = {}) {
  return {
    id: user.id,
    username: user.username,
    public_email: null,
    name: user.name,
    state: 'active',
    locked: false,
    avatar_url: null,
    web_url: `${EXTERNAL_URL}/${user.username}`,
    access_level: accessLevel,
    created_at: NOW,
    expires_at: null,
    membership_state: 'active',
    ...extra,
  };
}

// ---------------------------------------------------------------- auth matrix

const ROUTES: Array<[string, string]> = [];
for (const kind of ['groups', 'projects']) {
  ROUTES.push(
    ['GET', `/api/v4/${kind}/1/members`],
    ['GET', `/api/v4/${kind}/1/members/all`],
    ['GET', `/api/v4/${kind}/1/members/1`],
    ['GET', `/api/v4/${kind}/1/members/all/1`],
    ['PUT', `/api/v4/${kind}/1/members/1`],
    ['DELETE', `/api/v4/${kind}/1/members/1`],
  );
}

for (const [method, path] of ROUTES) {
  test(`${method} ${path}: no credentials → 401; a read_user token → 403 insufficient_scope`, async (t) => {
    const anonymous = await app.request(path, { method, body: method === 'PUT' ? { access_level: 30 } : undefined });
    t.is(anonymous.status, 401);
    t.deepEqual(anonymous.body, UNAUTHORIZED);
    const reader = await newUser(['read_user'], { admin: true });
    const scoped = await app.request(path, { method, token: reader.token, body: method === 'PUT' ? { access_level: 30 } : undefined });
    t.is(scoped.status, 403);
    t.deepEqual(scoped.body, insufficientScope(method === 'GET' ? 'api read_api' : 'api'));
  });
}

test('member routes: a group or project the caller cannot see → 404 Group / Project Not Found', async (t) => {
  const { group, owner } = await team();
  const project = await post('/api/v4/projects', owner.token, { path: unique('p'), namespace_id: group.id });
  const outsider = await newUser();
  for (const [kind, id, message] of [
    ['groups', group.id, '404 Group Not Found'],
    ['projects', project.id, '404 Project Not Found'],
    ['groups', 999999, '404 Group Not Found'],
  ] as const) {
    for (const [method, suffix] of [['GET', ''], ['GET', '/all'], ['GET', `/${owner.id}`], ['PUT', `/${owner.id}`], ['DELETE', `/${owner.id}`]]) {
      const response = await app.request(`/api/v4/${kind}/${id}/members${suffix}`, { method, token: outsider.token, body: method === 'PUT' ? { access_level: 30 } : undefined });
      t.is(response.status, 404, `${method} ${kind} ${suffix}`);
      t.deepEqual(response.body, { message });
    }
  }
});

test('member routes: bad params → 400 with Grape messages', async (t) => {
  const { group, owner } = await team();
  const cases: Array<[string, string, Record<string, unknown> | undefined, string]> = [
    ['GET', `/api/v4/groups/${group.id}/members?user_ids=a`, undefined, 'user_ids is invalid'],
    ['GET', `/api/v4/groups/${group.id}/members/all?state=gone`, undefined, 'state does not have a valid value'],
    ['GET', `/api/v4/groups/${group.id}/members/bob`, undefined, 'user_id is invalid'],
    ['PUT', `/api/v4/groups/${group.id}/members/${owner.id}`, {}, 'access_level is missing'],
    ['PUT', `/api/v4/groups/${group.id}/members/${owner.id}`, { access_level: 'high' }, 'access_level is invalid'],
    ['PUT', `/api/v4/groups/${group.id}/members/${owner.id}`, { access_level: 30, expires_at: 'soon' }, 'expires_at is invalid'],
    ['DELETE', `/api/v4/groups/${group.id}/members/x`, undefined, 'user_id is invalid'],
  ];
  for (const [method, path, body, error] of cases) {
    const response = await app.request(path, { method, token: owner.token, body });
    t.is(response.status, 400, path);
    t.deepEqual(response.body, { error }, path);
  }
});

// ---------------------------------------------------------------- GET …/members and …/members/all

test('GET /groups/:id/members lists direct members; /members/all adds inherited ones with the highest level', async (t) => {
  const { owner, group, users } = await team({ dev: 30, guest: 10 });
  const sub = await post('/api/v4/groups', owner.token, { name: 'Sub', path: 'sub', parent_id: group.id });
  // The guest is also a maintainer of the subgroup: /all shows the higher level once.
  await post(`/api/v4/groups/${sub.id}/members`, owner.token, { user_id: users.guest.id, access_level: 40 });
  const direct = await app.request(`/api/v4/groups/${sub.id}/members`, { token: users.dev.token });
  t.is(direct.status, 200);
  // The creator of a subgroup becomes its owner too.
  t.deepEqual(direct.body, [memberEntity(owner, 50), memberEntity(users.guest, 40)]);
  t.is(direct.headers.get('x-total'), '2');

  const all = await app.request(`/api/v4/groups/${sub.id}/members/all`, { token: users.dev.token });
  t.is(all.status, 200);
  const expected = [memberEntity(owner, 50), memberEntity(users.dev, 30), memberEntity(users.guest, 40)].sort((a, b) => a.id - b.id);
  t.deepEqual(all.body, expected);
});

test('GET …/members: query matches username and name; user_ids narrows; pages carry GitLab headers', async (t) => {
  const { owner, group, users } = await team({ a: 10, b: 20, c: 30 });
  const byQuery = await app.request(`/api/v4/groups/${group.id}/members?query=${users.b.username.toUpperCase()}`, { token: owner.token });
  t.deepEqual(byQuery.body, [memberEntity(users.b, 20)]);
  const byIds = await app.request(`/api/v4/groups/${group.id}/members?user_ids=${users.a.id},${users.c.id}`, { token: owner.token });
  t.deepEqual(byIds.body, [memberEntity(users.a, 10), memberEntity(users.c, 30)]);
  const seen: number[] = [];
  for (let page = 1; page <= 2; page += 1) {
    const response = await app.request(`/api/v4/groups/${group.id}/members?per_page=3&page=${page}`, { token: owner.token });
    t.is(response.headers.get('x-total'), '4');
    t.is(response.headers.get('x-total-pages'), '2');
    t.is(response.headers.get('x-next-page'), page === 1 ? '2' : '');
    seen.push(...response.body.map((member: { id: number }) => member.id));
  }
  t.deepEqual(seen, [owner.id, users.a.id, users.b.id, users.c.id]);
});

test('GET /projects/:id/members: a personal project shows its owner; /all adds the group members of a group project', async (t) => {
  const alice = await newUser();
  const bob = await newUser();
  const personal = await post('/api/v4/projects', alice.token, { path: unique('mine') });
  await post(`/api/v4/projects/${personal.id}/members`, alice.token, { user_id: bob.id, access_level: 30 });
  const members = await app.request(`/api/v4/projects/${personal.id}/members`, { token: bob.token });
  t.is(members.status, 200);
  t.deepEqual(members.body, [memberEntity(alice, 50), memberEntity(bob, 30)]);

  const { owner, group, users } = await team({ reporter: 20 });
  const project = await post('/api/v4/projects', owner.token, { path: unique('shop'), namespace_id: group.id });
  await post(`/api/v4/projects/${project.id}/members`, owner.token, { user_id: users.reporter.id, access_level: 40 });
  const direct = await app.request(`/api/v4/projects/${project.id}/members`, { token: owner.token });
  t.deepEqual(direct.body, [memberEntity(users.reporter, 40)]);
  const all = await app.request(`/api/v4/projects/${project.id}/members/all`, { token: owner.token });
  t.deepEqual(all.body, [memberEntity(owner, 50), memberEntity(users.reporter, 40)].sort((a, b) => a.id - b.id));
});

test('GET …/members/:user_id answers direct members only; …/members/all/:user_id any effective member', async (t) => {
  const { owner, group, users } = await team({ dev: 30 });
  const sub = await post('/api/v4/groups', owner.token, { name: 'Sub', path: 'sub', parent_id: group.id });
  const direct = await app.request(`/api/v4/groups/${group.id}/members/${users.dev.id}`, { token: users.dev.token });
  t.is(direct.status, 200);
  t.deepEqual(direct.body, memberEntity(users.dev, 30));
  const inherited = await app.request(`/api/v4/groups/${sub.id}/members/${users.dev.id}`, { token: users.dev.token });
  t.is(inherited.status, 404);
  t.deepEqual(inherited.body, MEMBER_NOT_FOUND);
  const effective = await app.request(`/api/v4/groups/${sub.id}/members/all/${users.dev.id}`, { token: users.dev.token });
  t.is(effective.status, 200);
  t.deepEqual(effective.body, memberEntity(users.dev, 30));
  const nobody = await app.request(`/api/v4/groups/${sub.id}/members/all/999999`, { token: users.dev.token });
  t.is(nobody.status, 404);
  t.deepEqual(nobody.body, MEMBER_NOT_FOUND);
});

// ---------------------------------------------------------------- PUT …/members/:user_id

test('PUT /groups/:id/members/:user_id: an owner changes a level and an expiry', async (t) => {
  const { owner, group, users } = await team({ dev: 30 });
  const response = await app.request(`/api/v4/groups/${group.id}/members/${users.dev.id}`, {
    method: 'PUT',
    token: owner.token,
    body: { access_level: 40, expires_at: '2027-01-31' },
  });
  t.is(response.status, 200);
  t.deepEqual(response.body, memberEntity(users.dev, 40, { expires_at: '2027-01-31' }));
  t.like(await memberRow('namespace', group.id, users.dev.id), { access_level: 40, expires_at: '2027-01-31' });
  // null (go-gitlab sends the key whenever it edits) and an empty value clear the expiry.
  for (const expires of [null, '']) {
    await app.request(`/api/v4/groups/${group.id}/members/${users.dev.id}`, { method: 'PUT', token: owner.token, body: { access_level: 40, expires_at: '2027-01-31' } });
    const cleared = await app.request(`/api/v4/groups/${group.id}/members/${users.dev.id}`, { method: 'PUT', token: owner.token, body: { access_level: 30, expires_at: expires } });
    t.is(cleared.status, 200);
    t.deepEqual(cleared.body, memberEntity(users.dev, 30));
    t.like(await memberRow('namespace', group.id, users.dev.id), { access_level: 30, expires_at: null });
  }
  // Without the key the expiry stays.
  await app.request(`/api/v4/groups/${group.id}/members/${users.dev.id}`, { method: 'PUT', token: owner.token, body: { access_level: 30, expires_at: '2027-02-01' } });
  const kept = await app.request(`/api/v4/groups/${group.id}/members/${users.dev.id}`, { method: 'PUT', token: owner.token, body: { access_level: 20 } });
  t.deepEqual(kept.body, memberEntity(users.dev, 20, { expires_at: '2027-02-01' }));
});

test('PUT …/members/:user_id: unknown member → 404 Not found; no right → 403; bad level → the model error; past expiry → 400', async (t) => {
  const { owner, group, users } = await team({ maintainer: 40, dev: 30 });
  const url = (userId: number) => `/api/v4/groups/${group.id}/members/${userId}`;
  const unknown = await app.request(url(999999), { method: 'PUT', token: owner.token, body: { access_level: 30 } });
  t.is(unknown.status, 404);
  t.deepEqual(unknown.body, MEMBER_NOT_FOUND);
  const byMaintainer = await app.request(url(users.dev.id), { method: 'PUT', token: users.maintainer.token, body: { access_level: 20 } });
  t.is(byMaintainer.status, 403);
  t.deepEqual(byMaintainer.body, FORBIDDEN);
  for (const level of [35, 5, 60]) {
    const bad = await app.request(url(users.dev.id), { method: 'PUT', token: owner.token, body: { access_level: level } });
    t.is(bad.status, 400, String(level));
    t.deepEqual(bad.body, NOT_INCLUDED);
  }
  const past = await app.request(url(users.dev.id), { method: 'PUT', token: owner.token, body: { access_level: 30, expires_at: '2026-11-21' } });
  t.is(past.status, 400);
  t.deepEqual(past.body, { message: { expires_at: ['cannot be a date in the past'] } });
  t.like(await memberRow('namespace', group.id, users.dev.id), { access_level: 30, expires_at: null });
});

test('PUT /groups/:id/members/:user_id: the last owner cannot be demoted; with a second owner they can', async (t) => {
  const { owner, group } = await team();
  const demote = await app.request(`/api/v4/groups/${group.id}/members/${owner.id}`, { method: 'PUT', token: owner.token, body: { access_level: 40 } });
  t.is(demote.status, 403);
  t.deepEqual(demote.body, FORBIDDEN);
  const asAdmin = await app.request(`/api/v4/groups/${group.id}/members/${owner.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { access_level: 40 } });
  t.is(asAdmin.status, 403);
  const second = await newUser();
  await post(`/api/v4/groups/${group.id}/members`, owner.token, { user_id: second.id, access_level: 50 });
  const now = await app.request(`/api/v4/groups/${group.id}/members/${owner.id}`, { method: 'PUT', token: owner.token, body: { access_level: 40 } });
  t.is(now.status, 200);
  t.is(now.body.access_level, 40);
});

test('PUT /projects/:id/members/:user_id: maintainers manage levels below Owner; owners are an owner\'s to change', async (t) => {
  const { owner, group } = await team();
  const project = await post('/api/v4/projects', owner.token, { path: unique('p'), namespace_id: group.id });
  const maintainer = await newUser();
  const dev = await newUser();
  const projectOwner = await newUser();
  for (const [user, level] of [[maintainer, 40], [dev, 30], [projectOwner, 50]] as const) {
    await post(`/api/v4/projects/${project.id}/members`, owner.token, { user_id: user.id, access_level: level });
  }
  const url = (userId: number) => `/api/v4/projects/${project.id}/members/${userId}`;
  const lower = await app.request(url(dev.id), { method: 'PUT', token: maintainer.token, body: { access_level: 20 } });
  t.is(lower.status, 200);
  t.deepEqual(lower.body, memberEntity(dev, 20));
  const toOwner = await app.request(url(dev.id), { method: 'PUT', token: maintainer.token, body: { access_level: 50 } });
  t.is(toOwner.status, 403);
  const touchOwner = await app.request(url(projectOwner.id), { method: 'PUT', token: maintainer.token, body: { access_level: 30 } });
  t.is(touchOwner.status, 403);
  const byDev = await app.request(url(maintainer.id), { method: 'PUT', token: dev.token, body: { access_level: 10 } });
  t.is(byDev.status, 403);
  const byOwner = await app.request(url(projectOwner.id), { method: 'PUT', token: owner.token, body: { access_level: 30 } });
  t.is(byOwner.status, 200);
  t.like(await memberRow('project', project.id, projectOwner.id), { access_level: 30 });
});

// ---------------------------------------------------------------- DELETE …/members/:user_id

test('DELETE /groups/:id/members/:user_id: owners remove members, members leave, the last owner stays', async (t) => {
  const { owner, group, users } = await team({ dev: 30, guest: 10 });
  const url = (userId: number) => `/api/v4/groups/${group.id}/members/${userId}`;
  const byGuest = await app.request(url(users.dev.id), { method: 'DELETE', token: users.guest.token });
  t.is(byGuest.status, 403);
  t.deepEqual(byGuest.body, FORBIDDEN);
  const removed = await app.request(url(users.dev.id), { method: 'DELETE', token: owner.token });
  t.is(removed.status, 204);
  t.is(removed.text, '');
  t.is(await memberRow('namespace', group.id, users.dev.id), undefined);
  const again = await app.request(url(users.dev.id), { method: 'DELETE', token: owner.token });
  t.is(again.status, 404);
  t.deepEqual(again.body, MEMBER_NOT_FOUND);
  const leave = await app.request(url(users.guest.id), { method: 'DELETE', token: users.guest.token });
  t.is(leave.status, 204);
  t.is(await memberRow('namespace', group.id, users.guest.id), undefined);
  const lastOwner = await app.request(url(owner.id), { method: 'DELETE', token: owner.token });
  t.is(lastOwner.status, 403);
  t.deepEqual(lastOwner.body, FORBIDDEN);
  const byAdmin = await app.request(url(owner.id), { method: 'DELETE', token: ROOT_TOKEN });
  t.is(byAdmin.status, 403);
  t.truthy(await memberRow('namespace', group.id, owner.id));
});

test('DELETE /groups/:id/members/:user_id: a subgroup\'s only direct owner may go when an owner is inherited', async (t) => {
  const { owner, group } = await team();
  const subOwner = await newUser();
  const sub = await post('/api/v4/groups', owner.token, { name: 'Sub', path: 'sub', parent_id: group.id });
  await post(`/api/v4/groups/${sub.id}/members`, owner.token, { user_id: subOwner.id, access_level: 50 });
  await app.request(`/api/v4/groups/${sub.id}/members/${owner.id}`, { method: 'DELETE', token: owner.token });
  const response = await app.request(`/api/v4/groups/${sub.id}/members/${subOwner.id}`, { method: 'DELETE', token: subOwner.token });
  t.is(response.status, 204);
});

test('DELETE /projects/:id/members/:user_id: maintainers remove lower members; the personal owner stays', async (t) => {
  const alice = await newUser();
  const maintainer = await newUser();
  const dev = await newUser();
  const project = await post('/api/v4/projects', alice.token, { path: unique('mine') });
  await post(`/api/v4/projects/${project.id}/members`, alice.token, { user_id: maintainer.id, access_level: 40 });
  await post(`/api/v4/projects/${project.id}/members`, alice.token, { user_id: dev.id, access_level: 30 });
  const url = (userId: number) => `/api/v4/projects/${project.id}/members/${userId}`;
  t.is((await app.request(url(dev.id), { method: 'DELETE', token: maintainer.token })).status, 204);
  t.is(await memberRow('project', project.id, dev.id), undefined);
  for (const token of [alice.token, maintainer.token, ROOT_TOKEN]) {
    const owner = await app.request(url(alice.id), { method: 'DELETE', token });
    t.is(owner.status, 403);
    t.deepEqual(owner.body, FORBIDDEN);
  }
  const put = await app.request(url(alice.id), { method: 'PUT', token: ROOT_TOKEN, body: { access_level: 30 } });
  t.is(put.status, 403);
});

// ---------------------------------------------------------------- POST …/members: levels are model errors

test('POST …/members: a level outside GitLab\'s is the model error, after the permission check', async (t) => {
  const { owner, group, users } = await team({ dev: 30 });
  const target = await newUser();
  for (const level of [35, 5, 60]) {
    const response = await app.request(`/api/v4/groups/${group.id}/members`, { method: 'POST', token: owner.token, body: { user_id: target.id, access_level: level } });
    t.is(response.status, 400);
    t.deepEqual(response.body, NOT_INCLUDED);
  }
  const forbidden = await app.request(`/api/v4/groups/${group.id}/members`, { method: 'POST', token: users.dev.token, body: { user_id: target.id, access_level: 35 } });
  t.is(forbidden.status, 403);
  const project = await post('/api/v4/projects', owner.token, { path: unique('p'), namespace_id: group.id });
  const onProject = await app.request(`/api/v4/projects/${project.id}/members`, { method: 'POST', token: owner.token, body: { user_id: target.id, access_level: 60 } });
  t.is(onProject.status, 400);
  t.deepEqual(onProject.body, NOT_INCLUDED);
  t.is(await memberRow('project', project.id, target.id), undefined);
});

test('DELETE …/members/:user_id is limited to 60 a minute per source and user (GitLab\'s members_delete)', async (t) => {
  const { owner, group } = await team();
  const other = await post('/api/v4/groups', owner.token, { name: 'Other', path: unique('other') });
  for (let i = 0; i < 60; i += 1) {
    const response = await app.request(`/api/v4/groups/${group.id}/members/999999`, { method: 'DELETE', token: owner.token });
    t.is(response.status, 404);
  }
  const limited = await app.request(`/api/v4/groups/${group.id}/members/999999`, { method: 'DELETE', token: owner.token });
  t.is(limited.status, 429);
  t.deepEqual(limited.body, { message: { error: 'This endpoint has been requested too many times. Try again later.' } });
  // Another source has its own count.
  t.is((await app.request(`/api/v4/groups/${other.id}/members/999999`, { method: 'DELETE', token: owner.token })).status, 404);
});

test('ids past what an id column holds are unknown members, not errors', async (t) => {
  const { owner, group } = await team();
  for (const [method, path] of [
    ['GET', `/api/v4/groups/${group.id}/members/2147483648`],
    ['GET', `/api/v4/groups/${group.id}/members/all/2147483648`],
    ['DELETE', `/api/v4/groups/${group.id}/members/2147483648`],
  ]) {
    const response = await app.request(path, { method, token: owner.token });
    t.is(response.status, 404, path);
    t.deepEqual(response.body, MEMBER_NOT_FOUND);
  }
  const listed = await app.request(`/api/v4/groups/${group.id}/members?user_ids=2147483648`, { token: owner.token });
  t.deepEqual(listed.body, []);
});
