import test from 'ava';
import { startTestApp, ROOT_TOKEN, EXTERNAL_URL, backendName, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { UNAUTHORIZED, FORBIDDEN, insufficientScope } from '../../helpers/gitlab-errors.js';
import { adminEntity, basicEntity, personalNamespaceId } from './user-entities.js';

const NOW = '2026-11-22T10:00:00.000Z';
const ANONYMOUS_LIST = { message: '403 Forbidden - Not authorized to access /api/v4/users' };
const OFFSET_LIMIT = {
  error:
    'Offset pagination has a maximum allowed offset of 50000 for requests that return objects of type User. Remaining records can be retrieved using keyset pagination.',
};
const KEYSET_UNAVAILABLE = { error: 'Keyset pagination is not yet available for this type of request' };

let app: TestApp;
let viewer: string;
let readRepository: string;

test.before(async () => {
  app = await startTestApp();
  viewer = (await createUserWithToken(app, ['read_user'])).plaintext;
  readRepository = (await createUserWithToken(app, ['read_repository'])).plaintext;
});
test.after.always(async () => {
  await app?.close();
});

let sequence = 0;
/** A tag no other test's users carry: each test searches by its own, since tests share one app. */
const uniqueTag = () => `tag${++sequence}x${Math.random().toString(36).slice(2, 7)}`;

interface Made {
  id: number;
  username: string;
  name: string;
  email: string;
}

/** Creates a user through the services, with a name carrying `tag`; `changes` are applied after. */
async function makeUser(tag: string, label: string, changes: Record<string, unknown> = {}): Promise<Made> {
  const username = `${label}_${tag}`;
  const user = await app.services.directory.users.create({
    username,
    name: `${label} ${tag}`,
    email: `${username}@example.com`,
    password: 'correct-horse-battery',
    ...changes,
  });
  return user;
}

const ids = (body: Array<{ id: number }>) => body.map((user) => user.id);

// ---------------------------------------------------------------- who may list

test('GET /users: anonymous callers get 403 unless they look up a username', async (t) => {
  const anonymous = await app.request('/api/v4/users');
  t.is(anonymous.status, 403);
  t.deepEqual(anonymous.body, ANONYMOUS_LIST);

  const searching = await app.request('/api/v4/users?search=root');
  t.is(searching.status, 403);
  t.deepEqual(searching.body, ANONYMOUS_LIST);

  const tag = uniqueTag();
  const user = await makeUser(tag, 'Anon');
  const byUsername = await app.request(`/api/v4/users?username=${user.username.toUpperCase()}`);
  t.is(byUsername.status, 200);
  t.deepEqual(byUsername.body, [basicEntity(user)]);
  t.is(byUsername.headers.get('x-total'), '1');
});

test('GET /users: a blocked user is not found by anonymous callers or users, but by admins', async (t) => {
  const tag = uniqueTag();
  const user = await makeUser(tag, 'Blocked');
  await app.services.directory.users.setState(user, 'blocked');
  t.deepEqual((await app.request(`/api/v4/users?username=${user.username}`)).body, []);
  t.deepEqual((await app.request(`/api/v4/users?username=${user.username}`, { token: viewer })).body, []);
  t.deepEqual((await app.request(`/api/v4/users?search=${tag}&blocked=true`, { token: viewer })).body, []);
  const admin = await app.request(`/api/v4/users?username=${user.username}`, { token: ROOT_TOKEN });
  t.deepEqual(ids(admin.body), [user.id]);
  t.is(admin.body[0].state, 'blocked');
});

test('GET /users: an unknown token is 401 even where anonymous callers may list', async (t) => {
  const response = await app.request('/api/v4/users?username=root', { token: 'glpat-not-a-real-token-000000' });
  t.is(response.status, 401);
  t.deepEqual(response.body, UNAUTHORIZED);
});

test('GET /users: a token without a read scope → 403 insufficient_scope', async (t) => {
  const response = await app.request('/api/v4/users', { token: readRepository });
  t.is(response.status, 403);
  t.deepEqual(response.body, insufficientScope('api read_api read_user'));
});

test('GET /users: a signed-in user gets basic entities, newest first; an admin the admin entity', async (t) => {
  const tag = uniqueTag();
  const first = await makeUser(tag, 'First');
  const second = await makeUser(tag, 'Second', { publicEmail: `shown_${tag}@example.org` });

  const asUser = await app.request(`/api/v4/users?search=${tag}&order_by=name&sort=asc`, { token: viewer });
  t.is(asUser.status, 200);
  // order_by and sort are an admin's; everyone else's search is ranked, then ordered by name.
  t.deepEqual(asUser.body, [basicEntity(first), basicEntity(second, { public_email: `shown_${tag}@example.org` })]);
  t.is(asUser.headers.get('x-total'), '2');

  const asAdmin = await app.request(`/api/v4/users?search=${tag}&order_by=name&sort=asc`, { token: ROOT_TOKEN });
  t.is(asAdmin.status, 200);
  t.deepEqual(asAdmin.body, [
    adminEntity(first, NOW, { namespaceId: await personalNamespaceId(app.db, first.id) }),
    adminEntity(second, NOW, { namespaceId: await personalNamespaceId(app.db, second.id) }, { public_email: `shown_${tag}@example.org` }),
  ]);
});

// ---------------------------------------------------------------- bad input

const rejects = test.macro({
  async exec(t, query: string, error: string, caller: 'admin' | 'user' = 'admin') {
    const response = await app.request(`/api/v4/users?${query}`, { token: caller === 'admin' ? ROOT_TOKEN : viewer });
    t.is(response.status, 400);
    t.deepEqual(response.body, { error });
  },
  title: (_title, query, error) => `GET /users?${query}: 400 "${error}"`,
});
test(rejects, 'created_after=yesterday', 'created_after is invalid');
test(rejects, 'created_before=2026-13-01', 'created_before is invalid');
// A bad value is refused before GitLab drops the admin-only filters of a non-admin.
test(rejects, 'created_before=soon', 'created_before is invalid', 'user');
test(rejects, 'order_by=email', 'order_by does not have a valid value');
test(rejects, 'sort=up', 'sort does not have a valid value');
test(rejects, 'active=perhaps', 'active is invalid');
test(rejects, 'two_factor=sometimes', 'two_factor does not have a valid value');
test(rejects, 'pagination=pages', 'pagination does not have a valid value');
test(rejects, 'page=0', 'page is invalid');
test(rejects, 'extern_uid=42', 'extern_uid, provider provide all or none of parameters');
test(rejects, 'pagination=keyset&cursor=not-a-cursor', 'cursor is invalid');

test('GET /users?extern_uid=&provider= is an admin\'s: 403 for others, nobody found here for admins', async (t) => {
  const user = await app.request('/api/v4/users?extern_uid=42&provider=ldapmain', { token: viewer });
  t.is(user.status, 403);
  t.deepEqual(user.body, FORBIDDEN);
  const admin = await app.request('/api/v4/users?extern_uid=42&provider=ldapmain', { token: ROOT_TOKEN });
  t.is(admin.status, 200);
  t.deepEqual(admin.body, []);
});

// ---------------------------------------------------------------- search

test('GET /users?search= matches words of names and usernames, an exact public email, and ranks exact matches first', async (t) => {
  const tag = uniqueTag();
  const exactName = await makeUser(tag, 'Zed', {});
  await app.services.directory.users.update(exactName, { name: `${tag}` });
  const partial = await makeUser(tag, 'Ann');
  const other = await makeUser(uniqueTag(), 'Other', { publicEmail: `public_${tag}@example.org` });

  // Non-admins: GitLab's ranking (exact public email, username, name), then by name.
  const ranked = await app.request(`/api/v4/users?search=${tag}`, { token: viewer });
  t.deepEqual(ids(ranked.body), [exactName.id, partial.id]);

  const byEmail = await app.request(`/api/v4/users?search=public_${tag}@example.org`, { token: viewer });
  t.deepEqual(ids(byEmail.body), [other.id]);

  // A leading @ is a username mention; the search is case-insensitive.
  const mention = await app.request(`/api/v4/users?search=@${partial.username.toUpperCase()}`, { token: viewer });
  t.deepEqual(ids(mention.body), [partial.id]);

  // Every word of three or more characters must appear in the same column.
  const words = await app.request(`/api/v4/users?search=${encodeURIComponent(`ann ${tag}`)}`, { token: viewer });
  t.deepEqual(ids(words.body), [partial.id]);

  // A private email is found by admins only, and only exactly.
  const privateEmail = await app.request(`/api/v4/users?search=${partial.email}`, { token: viewer });
  t.deepEqual(privateEmail.body, []);
  const asAdmin = await app.request(`/api/v4/users?search=${partial.email}`, { token: ROOT_TOKEN });
  t.deepEqual(ids(asAdmin.body), [partial.id]);
});

test('GET /users?search= with a word under three characters matches a whole name or username only', async (t) => {
  const tag = uniqueTag();
  const user = await makeUser(tag, 'Short');
  await app.services.directory.users.update(user, { name: 'Al' });
  const response = await app.request('/api/v4/users?search=al', { token: ROOT_TOKEN });
  t.true(ids(response.body).includes(user.id));
  t.true(response.body.every((found: { name: string; username: string }) => found.name.toLowerCase() === 'al' || found.username.toLowerCase() === 'al'));
});

test('GET /users?search= with hundreds of words answers (no name holds them all)', async (t) => {
  const words = Array.from({ length: 1300 }, (_, i) => `w${i.toString(36).padStart(3, '0')}`).join(' ');
  const response = await app.request(`/api/v4/users?search=${encodeURIComponent(words)}`, { token: ROOT_TOKEN });
  t.is(response.status, 200);
  t.deepEqual(response.body, []);
});

test('GET /users?search= escapes LIKE wildcards', async (t) => {
  const response = await app.request('/api/v4/users?search=%25%25%25', { token: ROOT_TOKEN });
  t.is(response.status, 200);
  t.deepEqual(response.body, []);
});

// ---------------------------------------------------------------- filters

test('GET /users filters by state, external, admins and public email', async (t) => {
  const tag = uniqueTag();
  const active = await makeUser(tag, 'Active');
  const blocked = await makeUser(tag, 'Blocked');
  await app.services.directory.users.setState(blocked, 'blocked');
  const deactivated = await makeUser(tag, 'Deactivated');
  await app.services.directory.users.setState(deactivated, 'deactivated');
  const external = await makeUser(tag, 'External', { external: true, publicEmail: `ext_${tag}@example.org` });
  const admin = await makeUser(tag, 'Admin', { isAdmin: true });

  const as = async (token: string, query: string) => ids((await app.request(`/api/v4/users?search=${tag}&${query}`, { token })).body);
  t.deepEqual(await as(ROOT_TOKEN, ''), [admin.id, external.id, deactivated.id, blocked.id, active.id]);
  // A non-admin's search is ranked by name (no exact match here).
  t.deepEqual(await as(viewer, ''), [active.id, admin.id, deactivated.id, external.id]);
  t.deepEqual(await as(ROOT_TOKEN, 'active=true'), [admin.id, external.id, active.id]);
  t.deepEqual(await as(ROOT_TOKEN, 'blocked=true'), [blocked.id]);
  t.deepEqual(await as(ROOT_TOKEN, 'exclude_active=true'), [deactivated.id, blocked.id]);
  t.deepEqual(await as(ROOT_TOKEN, 'external=true'), [external.id]);
  t.deepEqual(await as(viewer, 'external=true'), [external.id]);
  t.deepEqual(await as(ROOT_TOKEN, 'exclude_external=true'), [admin.id, deactivated.id, blocked.id, active.id]);
  t.deepEqual(await as(ROOT_TOKEN, 'admins=true'), [admin.id]);
  // `admins` is ignored for non-admins.
  t.deepEqual(await as(viewer, 'admins=true'), [active.id, admin.id, deactivated.id, external.id]);
  t.deepEqual(await as(viewer, `public_email=EXT_${tag}@example.org`), [external.id]);
  t.deepEqual(await as(ROOT_TOKEN, 'humans=true'), [admin.id, external.id, deactivated.id, blocked.id, active.id]);
  t.deepEqual(await as(ROOT_TOKEN, 'exclude_humans=true'), []);
  t.deepEqual(await as(ROOT_TOKEN, 'exclude_internal=true&without_project_bots=true'), [admin.id, external.id, deactivated.id, blocked.id, active.id]);
});

test('GET /users filters by creation time and two-factor state for admins only', async (t) => {
  const tag = uniqueTag();
  const early = await makeUser(tag, 'Early');
  const late = await makeUser(tag, 'Late');
  await app.services.directory.users.update(late, { twoFactorEnabled: true });
  // Tests share the app's clock: creation times are set in place rather than by moving it.
  await app.db('directory_users').where({ id: early.id }).update({ created_at: new Date('2026-11-21T10:00:00Z') });
  await app.db('directory_users').where({ id: late.id }).update({ created_at: new Date('2026-11-23T10:00:00Z') });
  const lateAt = '2026-11-23T00:00:00Z';

  const as = async (token: string, query: string) => ids((await app.request(`/api/v4/users?search=${tag}&${query}`, { token })).body);
  t.deepEqual(await as(ROOT_TOKEN, `created_after=${lateAt}`), [late.id]);
  t.deepEqual(await as(ROOT_TOKEN, 'created_before=2026-11-22'), [early.id]);
  t.deepEqual(await as(ROOT_TOKEN, 'created_after=2026-11-21&created_before=2026-11-24'), [late.id, early.id]);
  t.deepEqual(await as(ROOT_TOKEN, 'two_factor=enabled'), [late.id]);
  t.deepEqual(await as(ROOT_TOKEN, 'two_factor=disabled'), [early.id]);
  // Silently dropped for everyone else.
  t.deepEqual(await as(viewer, `created_after=${lateAt}&two_factor=enabled`), [early.id, late.id]);
});

test('GET /users?without_projects=true (admin) drops project members', async (t) => {
  const tag = uniqueTag();
  const member = await makeUser(tag, 'Member');
  const loner = await makeUser(tag, 'Loner');
  const { plaintext } = await createUserWithToken(app, ['api']);
  const project = await app.request('/api/v4/projects', { method: 'POST', token: plaintext, body: { name: `p${tag}` } });
  t.is(project.status, 201);
  const added = await app.request(`/api/v4/projects/${project.body.id}/members`, { method: 'POST', token: plaintext, body: { user_id: member.id, access_level: 30 } });
  t.is(added.status, 201);
  const response = await app.request(`/api/v4/users?search=${tag}&without_projects=true`, { token: ROOT_TOKEN });
  t.deepEqual(ids(response.body), [loner.id]);
});

// ---------------------------------------------------------------- pagination

test('GET /users pages through offsets with GitLab\'s headers', async (t) => {
  const tag = uniqueTag();
  const made = [];
  for (const label of ['a', 'b', 'c']) made.push(await makeUser(tag, label));
  const first = await app.request(`/api/v4/users?search=${tag}&per_page=2`, { token: ROOT_TOKEN });
  t.deepEqual(ids(first.body), [made[2].id, made[1].id]);
  t.is(first.headers.get('x-total'), '3');
  t.is(first.headers.get('x-total-pages'), '2');
  t.is(first.headers.get('x-next-page'), '2');
  t.true(first.headers.get('link')!.includes(`<${EXTERNAL_URL}/api/v4/users?search=${tag}&per_page=2&page=2>; rel="next"`));
  const second = await app.request(`/api/v4/users?search=${tag}&per_page=2&page=2`, { token: ROOT_TOKEN });
  t.deepEqual(ids(second.body), [made[0].id]);
  t.is(second.headers.get('x-next-page'), '');
});

test('GET /users: an offset page past 50000 rows is 405, as GitLab answers for User lists', async (t) => {
  for (const query of ['page=501&per_page=100', 'page=2501', 'page=1&per_page=50001']) {
    const response = await app.request(`/api/v4/users?${query}`, { token: viewer });
    t.is(response.status, 405, query);
    t.deepEqual(response.body, OFFSET_LIMIT);
  }
  const atLimit = await app.request('/api/v4/users?page=500&per_page=100', { token: viewer });
  t.is(atLimit.status, 200);
  t.deepEqual(atLimit.body, []);
});

test('GET /users?pagination=keyset walks forwards and back with cursors and no totals', async (t) => {
  const tag = uniqueTag();
  const made: Made[] = [];
  // Names out of id order, two equal, so the id must break the tie.
  for (const [label, name] of [
    ['u1', `Carol ${tag}`],
    ['u2', `Alice ${tag}`],
    ['u3', `Bob ${tag}`],
    ['u4', `Alice ${tag}`],
    ['u5', `Dave ${tag}`],
  ]) {
    const user = await makeUser(tag, label);
    await app.services.directory.users.update(user, { name });
    made.push(user);
  }
  const byName = [made[1], made[3], made[2], made[0], made[4]].map((user) => user.id);
  const query = `search=${tag}&pagination=keyset&order_by=name&sort=asc&per_page=2`;

  const first = await app.request(`/api/v4/users?${query}`, { token: ROOT_TOKEN });
  t.is(first.status, 200);
  t.deepEqual(ids(first.body), byName.slice(0, 2));
  t.is(first.headers.get('x-total'), null);
  t.is(first.headers.get('x-total-pages'), null);
  t.is(first.headers.get('x-prev-cursor'), null);
  const next = first.headers.get('x-next-cursor')!;
  t.truthy(next);
  t.deepEqual(JSON.parse(Buffer.from(next, 'base64url').toString()), { name: `Alice ${tag}`, id: String(made[3].id), _kd: 'n' });
  const link = first.headers.get('link')!;
  t.is(link, `<${EXTERNAL_URL}/api/v4/users?${query}&cursor=${next}>; rel="next"`);

  const second = await app.request(`/api/v4/users?${query}&cursor=${next}`, { token: ROOT_TOKEN });
  t.deepEqual(ids(second.body), byName.slice(2, 4));
  const third = await app.request(`/api/v4/users?${query}&cursor=${second.headers.get('x-next-cursor')}`, { token: ROOT_TOKEN });
  t.deepEqual(ids(third.body), byName.slice(4));
  t.is(third.headers.get('x-next-cursor'), null);

  const back = await app.request(`/api/v4/users?${query}&cursor=${third.headers.get('x-prev-cursor')}`, { token: ROOT_TOKEN });
  t.deepEqual(ids(back.body), byName.slice(2, 4));
  const start = await app.request(`/api/v4/users?${query}&cursor=${back.headers.get('x-prev-cursor')}`, { token: ROOT_TOKEN });
  t.deepEqual(ids(start.body), byName.slice(0, 2));
  t.is(start.headers.get('x-prev-cursor'), null);
});

test('GET /users?pagination=keyset follows id desc for non-admins, and every admin order', async (t) => {
  const tag = uniqueTag();
  const made: Made[] = [];
  for (const label of ['k1', 'k2', 'k3']) {
    made.push(await makeUser(tag, label));
  }
  const walk = async (token: string, query: string) => {
    const seen: number[] = [];
    let cursor = '';
    for (let i = 0; i < 5; i++) {
      const response = await app.request(`/api/v4/users?search=${tag}&pagination=keyset&per_page=1&${query}${cursor}`, { token });
      t.is(response.status, 200);
      seen.push(...ids(response.body));
      const next = response.headers.get('x-next-cursor');
      if (!next) break;
      cursor = `&cursor=${next}`;
    }
    return seen;
  };
  // A search without an admin's order is ranked, which keyset cannot follow (below); the order is explicit here.
  const asc = made.map((user) => user.id);
  const desc = [...asc].reverse();
  for (const by of ['id', 'username', 'created_at', 'updated_at']) {
    t.deepEqual(await walk(ROOT_TOKEN, `order_by=${by}&sort=asc`), asc, by);
    t.deepEqual(await walk(ROOT_TOKEN, `order_by=${by}&sort=desc`), desc, by);
  }
  const noSearch = await app.request('/api/v4/users?pagination=keyset&per_page=100', { token: viewer });
  const all = ids(noSearch.body);
  t.deepEqual(all, [...all].sort((a, b) => b - a));
});

test('GET /users?pagination=keyset with a ranked search (non-admin) is 405', async (t) => {
  const response = await app.request('/api/v4/users?search=root&pagination=keyset', { token: viewer });
  t.is(response.status, 405);
  t.deepEqual(response.body, KEYSET_UNAVAILABLE);
});

test(`GET /users lists on ${backendName}`, async (t) => {
  const response = await app.request('/api/v4/users?per_page=1', { token: ROOT_TOKEN });
  t.is(response.status, 200);
  t.is(response.body.length, 1);
});
