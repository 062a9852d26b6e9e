import test, { type ExecutionContext } from 'ava';
import { ROOT_TOKEN, startTestApp, type TestApp } from '../../helpers/app.js';
import {
  APPLICATION_NOT_FOUND,
  CANT_BE_BLANK,
  CLIENT_ID,
  FORBIDDEN,
  FORBIDDEN_URI,
  INSTANCE_APPS,
  INVALID_URI,
  NOW,
  SCOPES_NOT_CONFIGURED,
  SECRET,
  UNAUTHORIZED,
  USER_APPS,
  appBody,
  appJson,
  appRow,
  countApps,
  createApp,
  grape,
  insufficientScope,
  modelError,
  statusAndBody,
  instanceApp,
  userWithToken,
} from './_support.js';

const renew = (id: number | string) => `${instanceApp(id)}/renew-secret`;

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

/** The admin routes, for an existing instance application `id`. */
const adminRoutes = (id: number): Array<[string, string, unknown?]> => [
  ['POST', INSTANCE_APPS, appBody({ name: 'refused' })],
  ['GET', INSTANCE_APPS],
  ['DELETE', instanceApp(id)],
  ['POST', renew(id)],
];

async function assertUnchanged(t: ExecutionContext, id: number, before: unknown) {
  t.deepEqual(await appRow(app, id), before);
  t.is(await countApps(app, { name: 'refused' }), 0);
}

// --- authentication, admin and scopes -------------------------------------------------------------

test('admin routes: 401 without credentials, 403 for non-admins (also for unknown ids); nothing changes', async (t) => {
  const instance = await createApp(t, app, ROOT_TOKEN, INSTANCE_APPS);
  const before = await appRow(app, instance.id);
  const { plaintext } = await userWithToken(app);
  for (const [method, path, body] of [...adminRoutes(instance.id), ['DELETE', instanceApp(999_999)], ['POST', renew(999_999)]] as Array<[string, string, unknown?]>) {
    t.deepEqual(statusAndBody(await app.request(path, { method, body })), [401, UNAUTHORIZED], `${method} ${path}`);
    const nonAdmin = await app.request(path, { method, body, token: plaintext });
    t.deepEqual(statusAndBody(nonAdmin), [403, FORBIDDEN], `${method} ${path}`);
    t.false(nonAdmin.text.includes(instance.application_id));
  }
  await assertUnchanged(t, instance.id, before);
});

test('admin routes: an admin\'s read_api token may only list; read_user may not even list (403 insufficient_scope)', async (t) => {
  const instance = await createApp(t, app, ROOT_TOKEN, INSTANCE_APPS);
  const before = await appRow(app, instance.id);
  const readApi = await userWithToken(app, ['read_api'], { admin: true });
  for (const [method, path, body] of adminRoutes(instance.id).filter(([method]) => method !== 'GET')) {
    const response = await app.request(path, { method, body, token: readApi.plaintext });
    t.deepEqual(statusAndBody(response), [403, insufficientScope('api')], `${method} ${path}`);
  }
  await assertUnchanged(t, instance.id, before);
  const listed = await app.request(INSTANCE_APPS, { token: readApi.plaintext });
  t.is(listed.status, 200);
  t.true(listed.body.some((entry: { id: number }) => entry.id === instance.id));
  const readUser = await userWithToken(app, ['read_user'], { admin: true });
  t.deepEqual(statusAndBody(await app.request(INSTANCE_APPS, { token: readUser.plaintext })), [403, insufficientScope('api read_api')]);
});

test('admin mode: admin routes need a token with the admin_mode scope; regular users are refused either way', async (t) => {
  const own = await startTestApp({ config: { plugins: { tokens: { adminMode: true } } } });
  t.teardown(() => own.close());
  const admin = await userWithToken(own, ['api'], { admin: true });
  const adminMode = await own.services.tokens.tokens.create(admin.user, { name: 'admin mode', scopes: ['api', 'admin_mode'] });
  const regular = await userWithToken(own);
  const created = await own.request(INSTANCE_APPS, { method: 'POST', token: adminMode.plaintext, body: appBody() });
  t.is(created.status, 201);
  const before = await own.db('oauth_applications').where({ id: created.body.id }).first();
  for (const token of [admin.plaintext, regular.plaintext]) {
    for (const [method, path, body] of adminRoutes(created.body.id)) {
      const response = await own.request(path, { method, body, token });
      t.deepEqual(statusAndBody(response), [403, FORBIDDEN], `${method} ${path}`);
    }
  }
  t.deepEqual(await own.db('oauth_applications').where({ id: created.body.id }).first(), before);
  t.is(Number((await own.db('oauth_applications').count({ n: '*' }).first())?.n), 1);
  // With admin_mode, every admin route works.
  t.is((await own.request(INSTANCE_APPS, { token: adminMode.plaintext })).status, 200);
  t.is((await own.request(renew(created.body.id), { method: 'POST', token: adminMode.plaintext })).status, 201);
  t.is((await own.request(instanceApp(created.body.id), { method: 'DELETE', token: adminMode.plaintext })).status, 204);
  t.is(Number((await own.db('oauth_applications').count({ n: '*' }).first())?.n), 0);
});

// --- POST /applications ---------------------------------------------------------------------------

test('create: 201 with the secret, an instance-wide application (no owner) stored with a digest only', async (t) => {
  const response = await app.request(INSTANCE_APPS, { method: 'POST', token: ROOT_TOKEN, form: { name: 'Grafana', redirect_uri: 'https://grafana.example.com/login/gitlab', scopes: 'api read_user' } });
  t.is(response.status, 201);
  const { id, application_id: clientId, secret } = response.body;
  t.regex(clientId, CLIENT_ID);
  t.regex(secret, SECRET);
  t.deepEqual(response.body, {
    id,
    application_id: clientId,
    application_name: 'Grafana',
    callback_url: 'https://grafana.example.com/login/gitlab',
    confidential: true,
    scopes: ['api', 'read_user'],
    trusted: false,
    device_code_enabled: false,
    secret,
  });
  t.deepEqual(await appRow(app, id), {
    id,
    owner_id: null,
    name: 'Grafana',
    uid: clientId,
    secret_digest: app.services['oauth-applications'].applications.digest(secret),
    redirect_uri: 'https://grafana.example.com/login/gitlab',
    scopes: ['api', 'read_user'],
    confidential: true,
    created_at: NOW,
    updated_at: NOW,
  });
});

test('create: confidential omitted or null is true, false is false', async (t) => {
  for (const [confidential, expected] of [[undefined, true], [null, true], [false, false], ['false', false], [true, true]] as const) {
    const created = await createApp(t, app, ROOT_TOKEN, INSTANCE_APPS, appBody({ confidential }));
    t.is(created.confidential, expected, String(confidential));
    t.is((await appRow(app, created.id))?.confidential, expected);
  }
});

test('create: GitLab\'s 400s, nothing stored', async (t) => {
  const cases: Array<[Record<string, unknown>, unknown]> = [
    [{ name: 'refused', redirect_uri: 'https://x.example/cb' }, grape('scopes is missing, scopes is empty')],
    [{}, grape('name is missing, redirect_uri is missing, scopes is missing, scopes is empty')],
    [appBody({ name: 'refused', scopes: '' }), grape('scopes is empty')],
    [appBody({ name: 'refused', redirect_uri: 'wrong_url_format' }), modelError({ redirect_uri: [INVALID_URI] })],
    [appBody({ name: 'refused', redirect_uri: 'javascript://alert()' }), modelError({ redirect_uri: [FORBIDDEN_URI] })],
    [appBody({ name: 'refused', scopes: 'api unknown' }), modelError({ scopes: [SCOPES_NOT_CONFIGURED] })],
    [appBody({ name: '' }), modelError({ name: [CANT_BE_BLANK] })],
  ];
  for (const [body, error] of cases) {
    const response = await app.request(INSTANCE_APPS, { method: 'POST', token: ROOT_TOKEN, body });
    t.deepEqual(statusAndBody(response), [400, error], JSON.stringify(body));
  }
  t.is(await countApps(app, { name: 'refused' }), 0);
});

// --- GET /applications ----------------------------------------------------------------------------

test('list: every instance-wide application, none of the users\', without secrets, not paginated', async (t) => {
  const own = await startTestApp();
  t.teardown(() => own.close());
  const user = await userWithToken(own);
  const instance = [];
  for (let i = 0; i < 22; i += 1) instance.push(await createApp(t, own, ROOT_TOKEN, INSTANCE_APPS, appBody({ name: `app ${i}`, scopes: i % 2 ? 'api read_user' : 'api' })));
  await createApp(t, own, user.plaintext, USER_APPS);
  await createApp(t, own, ROOT_TOKEN, USER_APPS);
  const response = await own.request(`${INSTANCE_APPS}?per_page=5`, { token: ROOT_TOKEN });
  t.deepEqual(statusAndBody(response), [200, instance.map((created) => appJson(created))]);
  t.deepEqual(response.body[1].scopes, ['api', 'read_user']);
  t.false(response.text.includes('secret'));
  for (const header of ['x-total', 'x-page', 'x-per-page', 'link']) t.is(response.headers.get(header), null, header);
});

// --- DELETE /applications/:id ---------------------------------------------------------------------

test('delete: 204 and the row is gone; unknown is 404; a user\'s application is not an instance one (404, unchanged)', async (t) => {
  const instance = await createApp(t, app, ROOT_TOKEN, INSTANCE_APPS);
  const deleted = await app.request(instanceApp(instance.id), { method: 'DELETE', token: ROOT_TOKEN, body: {} });
  t.deepEqual([deleted.status, deleted.text], [204, '']);
  t.is(await appRow(app, instance.id), undefined);
  t.deepEqual(statusAndBody(await app.request(instanceApp(instance.id), { method: 'DELETE', token: ROOT_TOKEN })), [404, APPLICATION_NOT_FOUND]);
  t.deepEqual(statusAndBody(await app.request(instanceApp('abc'), { method: 'DELETE', token: ROOT_TOKEN })), [400, grape('id is invalid')]);

  const { plaintext } = await userWithToken(app);
  const users = await createApp(t, app, plaintext);
  const before = await appRow(app, users.id);
  t.deepEqual(statusAndBody(await app.request(instanceApp(users.id), { method: 'DELETE', token: ROOT_TOKEN })), [404, APPLICATION_NOT_FOUND]);
  t.deepEqual(await appRow(app, users.id), before);
});

// --- POST /applications/:id/renew-secret ----------------------------------------------------------

test('renew-secret: 201 with a new secret; the stored digest changes and the old secret no longer matches', async (t) => {
  const applications = app.services['oauth-applications'].applications;
  const instance = await createApp(t, app, ROOT_TOKEN, INSTANCE_APPS);
  const before = (await appRow(app, instance.id))!;
  t.is(before.secret_digest, applications.digest(instance.secret));
  t.truthy(await applications.authenticateClient(instance.application_id, instance.secret));

  const response = await app.request(renew(instance.id), { method: 'POST', token: ROOT_TOKEN });
  t.is(response.status, 201);
  const { secret } = response.body;
  t.regex(secret, SECRET);
  t.not(secret, instance.secret);
  t.deepEqual(response.body, { ...appJson(instance), secret });

  const after = (await appRow(app, instance.id))!;
  t.not(after.secret_digest, before.secret_digest);
  t.not(after.secret_digest, applications.digest(instance.secret));
  t.is(after.secret_digest, applications.digest(secret));
  t.deepEqual({ ...after, secret_digest: before.secret_digest }, before, 'nothing else changed');
  t.is(await applications.authenticateClient(instance.application_id, instance.secret), undefined);
  t.is((await applications.authenticateClient(instance.application_id, secret))?.id, instance.id);
  t.is(await applications.authenticateClient('0'.repeat(64), secret), undefined);
});

test('renew-secret: unknown is 404; a user\'s application is 404 and keeps its secret', async (t) => {
  t.deepEqual(statusAndBody(await app.request(renew(999_999), { method: 'POST', token: ROOT_TOKEN })), [404, APPLICATION_NOT_FOUND]);
  const { plaintext } = await userWithToken(app);
  const users = await createApp(t, app, plaintext);
  const before = await appRow(app, users.id);
  t.deepEqual(statusAndBody(await app.request(renew(users.id), { method: 'POST', token: ROOT_TOKEN })), [404, APPLICATION_NOT_FOUND]);
  t.deepEqual(await appRow(app, users.id), before);
  t.truthy(await app.services['oauth-applications'].applications.authenticateClient(users.application_id, users.secret));
});
