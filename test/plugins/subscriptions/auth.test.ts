import test from 'ava';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { FORBIDDEN, UNAUTHORIZED, insufficientScope } from '../../helpers/gitlab-errors.js';
import { countRows, newGroup, newUser } from './_support.js';

/*
 * Every route of the plugin is the customers portal's and needs an administrator, as GitLab's
 * `authenticated_as_admin!`: 401 without a token, 403 for anyone else (before any lookup, so also for
 * namespaces that do not exist), insufficient_scope for tokens without `api`, and — with admin mode
 * on — an admin's token needs the `admin_mode` scope.
 */

interface RouteCase {
  name: string;
  method: string;
  path: (fixture: Fixture) => string;
  body?: (fixture: Fixture) => unknown;
  success: number;
}

interface Fixture {
  source: number;
  target: number;
}

let step = 0;
const xid = () => `auth-${++step}-${Math.random().toString(36).slice(2, 8)}`;

const ROUTES: RouteCase[] = [
  {
    name: 'POST gitlab_subscription',
    method: 'POST',
    path: (f) => `/api/v4/namespaces/${f.target}/gitlab_subscription`,
    body: () => ({ start_date: '2026-01-01', seats: 5, plan_code: 'premium' }),
    success: 201,
  },
  { name: 'GET gitlab_subscription', method: 'GET', path: (f) => `/api/v4/namespaces/${f.source}/gitlab_subscription`, success: 200 },
  { name: 'PUT gitlab_subscription', method: 'PUT', path: (f) => `/api/v4/namespaces/${f.source}/gitlab_subscription`, body: () => ({ seats: 7 }), success: 200 },
  {
    name: 'POST minutes',
    method: 'POST',
    path: (f) => `/api/v4/namespaces/${f.source}/minutes`,
    body: () => ({ packs: [{ number_of_minutes: 10, expires_at: '2027-01-01', purchase_xid: xid() }] }),
    success: 201,
  },
  { name: 'PATCH minutes move', method: 'PATCH', path: (f) => `/api/v4/namespaces/${f.source}/minutes/move/${f.target}`, success: 202 },
  {
    name: 'PUT upcoming_reconciliations',
    method: 'PUT',
    path: () => '/api/v4/internal/upcoming_reconciliations',
    body: (f) => ({ upcoming_reconciliations: [{ namespace_id: f.source, next_reconciliation_date: '2027-01-10', display_alert_from: '2027-01-03' }] }),
    success: 200,
  },
  { name: 'DELETE upcoming_reconciliations', method: 'DELETE', path: (f) => `/api/v4/internal/upcoming_reconciliations?namespace_id=${f.source}`, success: 204 },
];

/** Two groups; the source has a subscription and an upcoming reconciliation, so every route can succeed once. */
async function fixture(app: TestApp): Promise<Fixture> {
  const source = await newGroup(app);
  const target = await newGroup(app);
  const service = app.services.subscriptions.subscriptions;
  const namespace = await service.findNamespace(String(source.id));
  await service.create(namespace, { startDate: '2026-01-01', seats: 1 });
  await service.upsertReconciliations([{ namespaceId: source.id, nextReconciliationDate: '2027-01-01', displayAlertFrom: '2026-12-25' }]);
  return { source: source.id, target: target.id };
}

/** What the refused requests must not have written. */
async function state(app: TestApp, f: Fixture) {
  return {
    subscriptions: await app.db('subscriptions_gitlab_subscriptions').whereIn('namespace_id', [f.source, f.target]).select('namespace_id', 'seats').orderBy('namespace_id'),
    packs: await countRows(app, 'subscriptions_ci_minutes_packs'),
    reconciliations: await countRows(app, 'subscriptions_upcoming_reconciliations', { namespace_id: f.source }),
  };
}

test('every route: 401 without a token, 403 for non-admins (even for unknown namespaces), insufficient_scope; nothing written', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.close());
  const f = await fixture(app);
  const before = await state(app, f);
  const user = await newUser(app);
  const admin = await newUser(app, { admin: true, scopes: ['read_user'] });
  const readApiAdmin = await newUser(app, { admin: true, scopes: ['read_api'] });
  const unknown: Fixture = { source: 99_998, target: 99_999 };
  for (const route of ROUTES) {
    const send = (token: string | undefined, fx = f) => app.request(route.path(fx), { method: route.method, token, body: route.body?.(fx) });
    const none = await send(undefined);
    t.deepEqual([none.status, none.body], [401, UNAUTHORIZED], `${route.name}: no token`);
    const bad = await send('glpat-not-a-token-at-all-000000');
    t.deepEqual([bad.status, bad.body], [401, UNAUTHORIZED], `${route.name}: unknown token`);
    for (const fx of [f, unknown]) {
      const nonAdmin = await send(user.token, fx);
      t.deepEqual([nonAdmin.status, nonAdmin.body], [403, FORBIDDEN], `${route.name}: non-admin`);
    }
    const scoped = await send(admin.token);
    const acceptable = route.method === 'GET' ? 'api read_api' : 'api';
    t.deepEqual([scoped.status, scoped.body], [403, insufficientScope(acceptable)], `${route.name}: read_user admin`);
    if (route.method !== 'GET') {
      const readOnly = await send(readApiAdmin.token);
      t.deepEqual([readOnly.status, readOnly.body], [403, insufficientScope('api')], `${route.name}: read_api admin`);
    }
  }
  t.deepEqual(await state(app, f), before);
  // read_api is enough to read.
  const read = await app.request(`/api/v4/namespaces/${f.source}/gitlab_subscription`, { token: readApiAdmin.token });
  t.is(read.status, 200);
});

test('admin mode: an admin token without admin_mode is refused everywhere, with it every route works', async (t) => {
  const app = await startTestApp({ config: { plugins: { tokens: { adminMode: true } } } });
  t.teardown(() => app.close());
  const f = await fixture(app);
  const plain = await newUser(app, { admin: true, scopes: ['api'] });
  const moded = await newUser(app, { admin: true, scopes: ['api', 'admin_mode'] });
  const before = await state(app, f);
  for (const route of ROUTES) {
    const refused = await app.request(route.path(f), { method: route.method, token: plain.token, body: route.body?.(f) });
    t.deepEqual([refused.status, refused.body], [403, FORBIDDEN], `${route.name}: admin without admin_mode`);
  }
  t.deepEqual(await state(app, f), before);
  for (const route of ROUTES) {
    const allowed = await app.request(route.path(f), { method: route.method, token: moded.token, body: route.body?.(f) });
    t.is(allowed.status, route.success, `${route.name}: ${allowed.text}`);
  }
  const after = await state(app, f);
  t.deepEqual(after.subscriptions, [
    { namespace_id: f.source, seats: 7 },
    { namespace_id: f.target, seats: 5 },
  ]);
  t.is(after.reconciliations, 0);
  t.is(await countRows(app, 'subscriptions_ci_minutes_packs', { namespace_id: f.target }), 1);
});
