import test from 'ava';
import { ROOT_TOKEN, startTestApp, type TestApp } from '../../helpers/app.js';
import { ALL_SCOPES } from '../../../plugins/tokens/scopes.js';
import {
  IN_A_YEAR,
  NOT_FOUND,
  NOW,
  TABLE,
  UNAUTHORIZED,
  grape,
  insufficientScope,
  tokenJson,
  userWithToken,
} from './_support.js';

const LIST = '/api/v4/personal_access_tokens';
const HOUR = 3_600_000;

/** Each test gets its own app: admin listings see every token of the instance. */
async function ownApp(t: { teardown(fn: () => Promise<void>): void }) {
  const app = await startTestApp();
  t.teardown(() => app.close());
  return app;
}

const ids = (body: Array<{ id: number }>) => body.map((token) => token.id);

/**
 * User A: `alpha` (api, created 10:00, the caller), `beta release` (revoked, 11:00), `gamma`
 * (expires today, 12:00) and an impersonation token `delta` (13:00). User B: `beta` (14:00).
 */
async function seed(app: TestApp) {
  const tokens = app.services.tokens.tokens;
  const a = await userWithToken(app, ['api']);
  const alpha = a.token;
  await app.db(TABLE).where({ id: alpha.id }).update({ name: 'alpha' });
  app.clock.advance(HOUR);
  const betaRelease = (await tokens.create(a.user, { name: 'beta release', scopes: ['read_api'], expiresAt: '2027-01-10' })).token;
  await tokens.revoke(betaRelease);
  app.clock.advance(HOUR);
  const gamma = (await tokens.create(a.user, { name: 'gamma', scopes: ['read_user'], expiresAt: '2026-11-22' })).token;
  app.clock.advance(HOUR);
  const delta = (await tokens.create(a.user, { name: 'delta', scopes: ['api'], impersonation: true, expiresAt: '2027-03-01' })).token;
  app.clock.advance(HOUR);
  const b = await userWithToken(app, ['api']);
  await app.db(TABLE).where({ id: b.token.id }).update({ name: 'beta' });
  app.clock.set(NOW);
  return { a, b, alpha, betaRelease, gamma, delta, beta: b.token };
}

test('401 without credentials, 403 insufficient_scope for a read_repository token', async (t) => {
  const app = await ownApp(t);
  const none = await app.request(LIST);
  t.is(none.status, 401);
  t.deepEqual(none.body, UNAUTHORIZED);
  const { plaintext } = await userWithToken(app, ['read_repository']);
  const scoped = await app.request(LIST, { token: plaintext });
  t.is(scoped.status, 403);
  t.deepEqual(scoped.body, insufficientScope('api read_api'));
});

test('invalid filter values are 400 with Grape\'s messages, in declaration order', async (t) => {
  const app = await ownApp(t);
  const cases: Array<[string, string]> = [
    ['revoked=maybe', 'revoked is invalid'],
    ['state=all', 'state does not have a valid value'],
    ['created_before=yesterday', 'created_before is invalid'],
    ['created_after=2026-02-30', 'created_after is invalid'],
    ['last_used_before=x', 'last_used_before is invalid'],
    ['last_used_after=1', 'last_used_after is invalid'],
    ['expires_before=2026-13-01', 'expires_before is invalid'],
    ['expires_after=tomorrow', 'expires_after is invalid'],
    ['user_id=abc', 'user_id is invalid'],
    ['per_page=0', 'per_page has a value not allowed'],
    ['page=x', 'page is invalid'],
    ['state=open&revoked=x&user_id=1.5', 'user_id is invalid, revoked is invalid, state does not have a valid value'],
  ];
  for (const [query, message] of cases) {
    const response = await app.request(`${LIST}?${query}`, { token: ROOT_TOKEN });
    t.is(response.status, 400, query);
    t.deepEqual(response.body, grape(message), query);
  }
});

test('a non-admin sees exactly their own non-impersonation tokens', async (t) => {
  const app = await ownApp(t);
  const { a, alpha, betaRelease, gamma } = await seed(app);
  const response = await app.request(LIST, { token: a.plaintext });
  t.is(response.status, 200);
  t.deepEqual(response.body, [
    tokenJson({ id: alpha.id, user_id: a.user.id, name: 'alpha', last_used_at: NOW }),
    tokenJson({
      id: betaRelease.id,
      user_id: a.user.id,
      name: 'beta release',
      scopes: ['read_api'],
      revoked: true,
      active: false,
      created_at: '2026-11-22T11:00:00.000Z',
      expires_at: '2027-01-10',
    }),
    tokenJson({
      id: gamma.id,
      user_id: a.user.id,
      name: 'gamma',
      scopes: ['read_user'],
      active: false,
      created_at: '2026-11-22T12:00:00.000Z',
      expires_at: '2026-11-22',
    }),
  ]);
  // Their own id is allowed, blank is ignored; anyone else's (or nobody's) is 401.
  t.deepEqual(ids((await app.request(`${LIST}?user_id=${a.user.id}`, { token: a.plaintext })).body), [alpha.id, betaRelease.id, gamma.id]);
  t.deepEqual(ids((await app.request(`${LIST}?user_id=`, { token: a.plaintext })).body), [alpha.id, betaRelease.id, gamma.id]);
  for (const other of [1, 99_999]) {
    const response = await app.request(`${LIST}?user_id=${other}`, { token: a.plaintext });
    t.is(response.status, 401);
    t.deepEqual(response.body, UNAUTHORIZED);
  }
});

test('an admin sees every token, impersonation included; user_id filters; unknown or blank user_id is 404', async (t) => {
  const app = await ownApp(t);
  const { a, b, alpha, betaRelease, gamma, delta, beta } = await seed(app);
  const all = await app.request(LIST, { token: ROOT_TOKEN });
  t.is(all.status, 200);
  t.deepEqual(ids(all.body), [1, alpha.id, betaRelease.id, gamma.id, delta.id, beta.id]);
  t.deepEqual(all.body[0], tokenJson({ id: 1, user_id: 1, name: 'root bootstrap token', scopes: [...ALL_SCOPES], last_used_at: NOW }));
  t.deepEqual(all.body[4], tokenJson({ id: delta.id, user_id: a.user.id, name: 'delta', created_at: '2026-11-22T13:00:00.000Z', expires_at: '2027-03-01' }));

  t.deepEqual(ids((await app.request(`${LIST}?user_id=${a.user.id}`, { token: ROOT_TOKEN })).body), [alpha.id, betaRelease.id, gamma.id, delta.id]);
  t.deepEqual(ids((await app.request(`${LIST}?user_id=${b.user.id}`, { token: ROOT_TOKEN })).body), [beta.id]);
  for (const query of ['user_id=99999', 'user_id=']) {
    const response = await app.request(`${LIST}?${query}`, { token: ROOT_TOKEN });
    t.is(response.status, 404, query);
    t.deepEqual(response.body, NOT_FOUND, query);
  }
});

test('revoked and state filters; a token expiring today is inactive', async (t) => {
  const app = await ownApp(t);
  const { a, alpha, betaRelease, gamma } = await seed(app);
  const get = async (query: string) => ids((await app.request(`${LIST}?${query}`, { token: a.plaintext })).body);
  t.deepEqual(await get('revoked=true'), [betaRelease.id]);
  t.deepEqual(await get('revoked=false'), [alpha.id, gamma.id]);
  t.deepEqual(await get('state=active'), [alpha.id]);
  t.deepEqual(await get('state=inactive'), [betaRelease.id, gamma.id]);
  t.deepEqual(await get('state=inactive&revoked=false'), [gamma.id]);
});

test('created and last-used filters are inclusive; a date means midnight UTC', async (t) => {
  const app = await ownApp(t);
  const { a, alpha, betaRelease, gamma } = await seed(app);
  await app.db(TABLE).where({ id: betaRelease.id }).update({ last_used_at: new Date('2026-11-20T08:00:00.000Z') });
  await app.db(TABLE).where({ id: gamma.id }).update({ last_used_at: new Date('2026-11-21T00:00:00.000Z') });
  const get = async (query: string) => ids((await app.request(`${LIST}?${query}`, { token: a.plaintext })).body);
  t.deepEqual(await get('created_before=2026-11-22T11:00:00Z'), [alpha.id, betaRelease.id]);
  t.deepEqual(await get('created_after=2026-11-22T11:00:00.000Z'), [betaRelease.id, gamma.id]);
  t.deepEqual(await get('created_before=2026-11-22'), []);
  t.deepEqual(await get('created_after=2026-11-22'), [alpha.id, betaRelease.id, gamma.id]);
  t.deepEqual(await get('created_before=2026-11-22T11:30:00%2B01:00'), [alpha.id]);
  // alpha was last used by these very requests, at 10:00 today.
  t.deepEqual(await get('last_used_before=2026-11-21'), [betaRelease.id, gamma.id]);
  t.deepEqual(await get('last_used_after=2026-11-21'), [alpha.id, gamma.id]);
  t.deepEqual(await get('last_used_after=2026-11-20T08:00:00Z&last_used_before=2026-11-21T00:00:00Z'), [betaRelease.id, gamma.id]);
});

test('expires_before is strict, expires_after inclusive', async (t) => {
  const app = await ownApp(t);
  const { a, alpha, betaRelease, gamma } = await seed(app);
  const get = async (query: string) => ids((await app.request(`${LIST}?${query}`, { token: a.plaintext })).body);
  t.deepEqual(await get('expires_before=2027-01-10'), [gamma.id]);
  t.deepEqual(await get('expires_before=2027-01-11'), [betaRelease.id, gamma.id]);
  t.deepEqual(await get('expires_after=2027-01-10'), [alpha.id, betaRelease.id]);
  t.deepEqual(await get(`expires_after=${IN_A_YEAR}T00:00:00Z`), [alpha.id]);
});

test('search is GitLab\'s fuzzy name search: terms of 3+ characters anywhere, shorter queries whole-name; empty is no filter', async (t) => {
  const app = await ownApp(t);
  const { a, alpha, betaRelease, gamma } = await seed(app);
  const get = async (query: string) => ids((await app.request(`${LIST}?${query}`, { token: a.plaintext })).body);
  t.deepEqual(await get('search=BETA'), [betaRelease.id]);
  t.deepEqual(await get('search=amm'), [gamma.id]);
  t.deepEqual(await get('search=rel%20bet'), [betaRelease.id]);
  t.deepEqual(await get('search=%22a%20r%22'), [betaRelease.id]);
  t.deepEqual(await get('search=al'), []);
  t.deepEqual(await get('search=%25'), []);
  t.deepEqual(await get('search='), [alpha.id, betaRelease.id, gamma.id]);
});

test('every sort, ties broken by id in the same direction, NULLs as PostgreSQL orders them; unknown sorts are ignored', async (t) => {
  const app = await ownApp(t);
  const { a, alpha, betaRelease, gamma } = await seed(app);
  const extra = (await app.services.tokens.tokens.create(a.user, { name: 'alpha', scopes: ['api'], expiresAt: null })).token;
  await app.db(TABLE).where({ id: gamma.id }).update({ last_used_at: new Date('2026-11-01T00:00:00.000Z') });
  const get = async (sort: string) => ids((await app.request(`${LIST}?sort=${sort}`, { token: a.plaintext })).body);
  // Names: alpha (alpha), beta release, gamma, alpha (extra); lower case, so collations agree.
  t.deepEqual(await get('name_asc'), [alpha.id, extra.id, betaRelease.id, gamma.id]);
  t.deepEqual(await get('name_desc'), [gamma.id, betaRelease.id, extra.id, alpha.id]);
  t.deepEqual(await get('created_asc'), [alpha.id, extra.id, betaRelease.id, gamma.id]);
  t.deepEqual(await get('created_desc'), [gamma.id, betaRelease.id, extra.id, alpha.id]);
  // extra never expires: last ascending, first descending.
  t.deepEqual(await get('expires_asc'), [gamma.id, betaRelease.id, alpha.id, extra.id]);
  t.deepEqual(await get('expires_desc'), [extra.id, alpha.id, betaRelease.id, gamma.id]);
  // alpha used now, gamma on 11-01, the others never.
  t.deepEqual(await get('last_used_asc'), [gamma.id, alpha.id, betaRelease.id, extra.id]);
  t.deepEqual(await get('last_used_desc'), [extra.id, betaRelease.id, alpha.id, gamma.id]);
  t.deepEqual(await get('bogus'), [alpha.id, betaRelease.id, gamma.id, extra.id]);
});

test('pagination: GitLab\'s headers and an absolute Link on the external URL', async (t) => {
  const app = await ownApp(t);
  const { a } = await seed(app);
  for (let i = 0; i < 2; i += 1) await app.services.tokens.tokens.create(a.user, { name: `more ${i}`, scopes: ['api'] });
  const first = await app.request(`${LIST}?per_page=2&revoked=false`, { token: a.plaintext });
  t.is(first.status, 200);
  t.is(first.body.length, 2);
  const headers = (response: typeof first) =>
    Object.fromEntries(['x-total', 'x-total-pages', 'x-per-page', 'x-page', 'x-next-page', 'x-prev-page', 'link'].map((h) => [h, response.headers.get(h)]));
  const base = 'http://gatehouse.test/api/v4/personal_access_tokens';
  t.deepEqual(headers(first), {
    'x-total': '4',
    'x-total-pages': '2',
    'x-per-page': '2',
    'x-page': '1',
    'x-next-page': '2',
    'x-prev-page': '',
    link: `<${base}?per_page=2&revoked=false&page=2>; rel="next", <${base}?per_page=2&revoked=false&page=1>; rel="first", <${base}?per_page=2&revoked=false&page=2>; rel="last"`,
  });
  const second = await app.request(`${LIST}?per_page=2&revoked=false&page=2`, { token: a.plaintext });
  t.is(second.body.length, 2);
  t.deepEqual(headers(second), {
    'x-total': '4',
    'x-total-pages': '2',
    'x-per-page': '2',
    'x-page': '2',
    'x-next-page': '',
    'x-prev-page': '1',
    link: `<${base}?per_page=2&revoked=false&page=1>; rel="prev", <${base}?per_page=2&revoked=false&page=1>; rel="first", <${base}?per_page=2&revoked=false&page=2>; rel="last"`,
  });
  t.notDeepEqual(ids(first.body), ids(second.body));
  // per_page above 100 is clamped; an empty result still has one page.
  const clamped = await app.request(`${LIST}?per_page=500&search=nothing-matches`, { token: a.plaintext });
  t.deepEqual(clamped.body, []);
  t.is(clamped.headers.get('x-per-page'), '100');
  t.is(clamped.headers.get('x-total-pages'), '1');
  t.is(clamped.headers.get('x-total'), '0');
});
