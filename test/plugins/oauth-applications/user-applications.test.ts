import test from 'ava';
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
  userApp,
  userWithToken,
} from './_support.js';

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

// --- authentication and scopes --------------------------------------------------------------------

test('every /user/applications route answers 401 without credentials or with an unknown token; nothing stored', async (t) => {
  const { plaintext } = await userWithToken(app);
  const own = await createApp(t, app, plaintext);
  const routes: Array<[string, string, unknown?]> = [
    ['POST', USER_APPS, appBody({ name: 'anonymous' })],
    ['GET', USER_APPS],
    ['GET', userApp(own.id)],
    ['PUT', userApp(own.id), { name: 'anonymous' }],
    ['DELETE', userApp(own.id)],
  ];
  for (const [method, path, body] of routes) {
    t.deepEqual(statusAndBody(await app.request(path, { method, body })), [401, UNAUTHORIZED], `${method} ${path}`);
    t.deepEqual(statusAndBody(await app.request(path, { method, body, token: 'glpat-unknown-token-000000' })), [401, UNAUTHORIZED], `${method} ${path}`);
  }
  t.is(await countApps(app, { name: 'anonymous' }), 0);
  t.is((await appRow(app, own.id))?.name, 'review app');
});

test('a read_api token reads but cannot write (403 insufficient_scope "api"); a read_user token cannot even read', async (t) => {
  const owner = await userWithToken(app);
  const created = await createApp(t, app, owner.plaintext);
  const before = await appRow(app, created.id);
  const readApi = await app.services.tokens.tokens.create(owner.user, { name: 'read', scopes: ['read_api'] });
  const writes: Array<[string, string, unknown]> = [
    ['POST', USER_APPS, appBody({ name: 'read-only' })],
    ['PUT', userApp(created.id), { name: 'read-only' }],
    ['DELETE', userApp(created.id), undefined],
  ];
  for (const [method, path, body] of writes) {
    const response = await app.request(path, { method, body, token: readApi.plaintext });
    t.deepEqual(statusAndBody(response), [403, insufficientScope('api')], `${method} ${path}`);
  }
  t.deepEqual(await appRow(app, created.id), before);
  t.is(await countApps(app, { owner_id: owner.user.id }), 1);

  const listed = await app.request(USER_APPS, { token: readApi.plaintext });
  t.deepEqual(statusAndBody(listed), [200, [appJson(created)]]);
  const shown = await app.request(userApp(created.id), { token: readApi.plaintext, auth: 'bearer' });
  t.deepEqual(statusAndBody(shown), [200, appJson(created)]);

  const readUser = await app.services.tokens.tokens.create(owner.user, { name: 'user', scopes: ['read_user'] });
  for (const path of [USER_APPS, userApp(created.id)]) {
    t.deepEqual(statusAndBody(await app.request(path, { token: readUser.plaintext })), [403, insufficientScope('api read_api')], path);
  }
});

test('a blocked user gets 403 with GitLab\'s reason', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  await app.services.directory.users.setState(user, 'blocked');
  const response = await app.request(USER_APPS, { method: 'POST', token: plaintext, body: appBody() });
  t.deepEqual(statusAndBody(response), [403, { message: '403 Forbidden - Your account has been blocked.' }]);
  t.is(await countApps(app, { owner_id: user.id }), 0);
});

// --- POST /user/applications ----------------------------------------------------------------------

test('create: 201 with the entity and the secret; the row is owned by the caller and stores only a digest', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  const response = await app.request(USER_APPS, { method: 'POST', token: plaintext, body: appBody() });
  t.is(response.status, 201);
  const { id, application_id: clientId, secret } = response.body;
  t.regex(clientId, CLIENT_ID);
  t.regex(secret, SECRET);
  t.deepEqual(response.body, {
    id,
    application_id: clientId,
    application_name: 'review app',
    callback_url: 'https://review-42.example.com/auth/callback',
    confidential: true,
    scopes: ['api', 'read_user'],
    trusted: false,
    device_code_enabled: false,
    secret,
  });
  t.deepEqual(Object.keys(response.body), ['id', 'application_id', 'application_name', 'callback_url', 'confidential', 'scopes', 'trusted', 'device_code_enabled', 'secret']);
  const row = await appRow(app, id);
  t.deepEqual(row, {
    id,
    owner_id: user.id,
    name: 'review app',
    uid: clientId,
    secret_digest: app.services['oauth-applications'].applications.digest(secret),
    redirect_uri: 'https://review-42.example.com/auth/callback',
    scopes: ['api', 'read_user'],
    confidential: true,
    created_at: NOW,
    updated_at: NOW,
  });
  const stored = JSON.stringify(await app.db('oauth_applications').where({ id }).first());
  t.false(stored.includes(secret.slice('gloas-'.length)), 'the plaintext secret is not stored');
  t.true(Boolean(await app.services['oauth-applications'].applications.authenticateClient(clientId, secret)));
});

test('create: form bodies, scopes as a space-separated string, an array or scopes[]; confidential from strings', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  const cases: Array<[Record<string, unknown>, 'json' | 'form', string[], boolean]> = [
    [{ ...appBody(), scopes: 'read_user  openid\tprofile', confidential: 'false' }, 'form', ['read_user', 'openid', 'profile'], false],
    [{ ...appBody(), scopes: ['api', 'read_api'], confidential: 'true' }, 'form', ['api', 'read_api'], true],
    [{ ...appBody(), scopes: ['api', 'email'], confidential: false }, 'json', ['api', 'email'], false],
    [{ ...appBody(), scopes: 'api api read_user', confidential: null }, 'json', ['api', 'read_user'], true],
  ];
  for (const [body, kind, scopes, confidential] of cases) {
    const request =
      kind === 'form'
        ? { form: Object.fromEntries(Object.entries(body).map(([k, v]) => [Array.isArray(v) ? `${k}[]` : k, v as string | string[]])) }
        : { body };
    const response = await app.request(USER_APPS, { method: 'POST', token: plaintext, ...request });
    t.is(response.status, 201, JSON.stringify(body));
    t.deepEqual([response.body.scopes, response.body.confidential], [scopes, confidential], JSON.stringify(body));
    const row = await appRow(app, response.body.id);
    t.deepEqual([row?.owner_id, row?.scopes, row?.confidential], [user.id, scopes, confidential]);
  }
});

test('create: several redirect URIs, one per line, are kept as given; custom schemes and the OOB URI are allowed', async (t) => {
  const { plaintext } = await userWithToken(app);
  const redirect = 'https://review-1.example.com/callback\nhttps://review-2.example.com/callback\r\ncom.example.app:/oauth\nurn:ietf:wg:oauth:2.0:oob\nhttp://localhost:3000/cb';
  const created = await createApp(t, app, plaintext, USER_APPS, appBody({ redirect_uri: redirect }));
  t.is(created.callback_url, redirect);
  t.is((await appRow(app, created.id))?.redirect_uri, redirect);
});

test('create: each application gets its own random client id and secret', async (t) => {
  const { plaintext } = await userWithToken(app);
  const a = await createApp(t, app, plaintext);
  const b = await createApp(t, app, plaintext);
  t.not(a.application_id, b.application_id);
  t.not(a.secret, b.secret);
  t.not((await appRow(app, a.id))?.secret_digest, (await appRow(app, b.id))?.secret_digest);
  // The client id is unique in the database too.
  const row = await app.db('oauth_applications').where({ id: b.id }).first();
  await t.throwsAsync(app.db('oauth_applications').where({ id: b.id }).update({ uid: (await appRow(app, a.id))!.uid }));
  t.is((await appRow(app, b.id))?.uid, row.uid);
});

test('create: Grape 400s name what is missing, blank or of the wrong type, in declaration order; nothing stored', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  const cases: Array<[unknown, string]> = [
    [{}, 'name is missing, redirect_uri is missing, scopes is missing, scopes is empty'],
    [{ name: 'x', redirect_uri: 'https://x.example/cb' }, 'scopes is missing, scopes is empty'],
    [{ redirect_uri: 'https://x.example/cb', scopes: 'api' }, 'name is missing'],
    [{ name: 'x', scopes: 'api' }, 'redirect_uri is missing'],
    [appBody({ scopes: '' }), 'scopes is empty'],
    [appBody({ scopes: '   ' }), 'scopes is empty'],
    [appBody({ scopes: [] }), 'scopes is empty'],
    [appBody({ scopes: { api: true } }), 'scopes is invalid'],
    [appBody({ confidential: 'maybe' }), 'confidential is invalid'],
    [appBody({ name: { a: 1 }, redirect_uri: ['https://x.example/cb'] }), 'name is invalid, redirect_uri is invalid'],
  ];
  for (const [body, message] of cases) {
    const response = await app.request(USER_APPS, { method: 'POST', token: plaintext, body });
    t.deepEqual(statusAndBody(response), [400, grape(message)], message);
  }
  const form = await app.request(USER_APPS, { method: 'POST', token: plaintext, form: { name: 'x' } });
  t.deepEqual(statusAndBody(form), [400, grape('redirect_uri is missing, scopes is missing, scopes is empty')]);
  t.is(await countApps(app, { owner_id: user.id }), 0);
});

test('create: model errors are 400 {"message":{attribute:[…]}} with Doorkeeper\'s texts; nothing stored', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  const cases: Array<[Record<string, unknown>, Record<string, string[]>]> = [
    [{ redirect_uri: 'wrong_url_format' }, { redirect_uri: [INVALID_URI] }],
    [{ redirect_uri: '/relative/callback' }, { redirect_uri: [INVALID_URI] }],
    [{ redirect_uri: 'localhost:3000/callback' }, { redirect_uri: [INVALID_URI] }],
    [{ redirect_uri: 'https://exa mple.com' }, { redirect_uri: [INVALID_URI] }],
    [{ redirect_uri: 'https://[::1' }, { redirect_uri: [INVALID_URI] }],
    [{ redirect_uri: 'https://example.com/<script>' }, { redirect_uri: [INVALID_URI] }],
    [{ redirect_uri: 'javascript://alert()' }, { redirect_uri: [FORBIDDEN_URI] }],
    [{ redirect_uri: 'JavaScript:alert(1)' }, { redirect_uri: [FORBIDDEN_URI] }],
    [{ redirect_uri: 'data:text/html;base64,PHNjcmlwdD4=' }, { redirect_uri: [FORBIDDEN_URI] }],
    [{ redirect_uri: 'vbscript:msgbox(1)' }, { redirect_uri: [FORBIDDEN_URI] }],
    [{ redirect_uri: 'https://ok.example/cb\njavascript://alert()\nnot a uri' }, { redirect_uri: [FORBIDDEN_URI, INVALID_URI] }],
    [{ redirect_uri: 'https://ok.example/cb#fragment' }, { redirect_uri: ['cannot contain a fragment.'] }],
    [{ redirect_uri: '' }, { redirect_uri: [CANT_BE_BLANK] }],
    [{ redirect_uri: `https://example.com/${'a'.repeat(4100)}` }, { redirect_uri: ['is too long (maximum is 4096 characters)'] }],
    [{ scopes: 'api everything' }, { scopes: [SCOPES_NOT_CONFIGURED] }],
    [{ scopes: 'api,read_user' }, { scopes: [SCOPES_NOT_CONFIGURED] }],
    [{ name: '' }, { name: [CANT_BE_BLANK] }],
    [{ name: '   ' }, { name: [CANT_BE_BLANK] }],
    [{ name: 'n'.repeat(256) }, { name: ['is too long (maximum is 255 characters)'] }],
    [{ name: '', redirect_uri: 'javascript://alert()', scopes: 'nope' }, { name: [CANT_BE_BLANK], redirect_uri: [FORBIDDEN_URI], scopes: [SCOPES_NOT_CONFIGURED] }],
  ];
  for (const [overrides, fields] of cases) {
    const response = await app.request(USER_APPS, { method: 'POST', token: plaintext, body: appBody(overrides) });
    t.deepEqual(statusAndBody(response), [400, modelError(fields)], JSON.stringify(overrides).slice(0, 80));
  }
  t.is(await countApps(app, { owner_id: user.id }), 0);
  // The bounds themselves are accepted.
  const longest = await createApp(t, app, plaintext, USER_APPS, appBody({ name: 'n'.repeat(255) }));
  t.is(longest.application_name.length, 255);
});

test('create with Sudo: an admin creates the application for the user acted as', async (t) => {
  const { user } = await userWithToken(app);
  const admin = await userWithToken(app, ['api', 'sudo'], { admin: true });
  const response = await app.request(USER_APPS, { method: 'POST', token: admin.plaintext, headers: { Sudo: user.username }, body: appBody() });
  t.is(response.status, 201);
  t.is((await appRow(app, response.body.id))?.owner_id, user.id);
});

// --- GET /user/applications -----------------------------------------------------------------------

test('list: only the caller\'s applications, oldest first, without secrets, with GitLab\'s pagination headers', async (t) => {
  const alice = await userWithToken(app);
  const bob = await userWithToken(app);
  const mine = [await createApp(t, app, alice.plaintext, USER_APPS, appBody({ name: 'one' })), await createApp(t, app, alice.plaintext, USER_APPS, appBody({ name: 'two' })), await createApp(t, app, alice.plaintext, USER_APPS, appBody({ name: 'three' }))];
  await createApp(t, app, bob.plaintext);
  await createApp(t, app, ROOT_TOKEN, INSTANCE_APPS);

  const response = await app.request(USER_APPS, { token: alice.plaintext });
  t.deepEqual(statusAndBody(response), [200, mine.map((created) => appJson(created))]);
  t.false(response.text.includes('secret'));
  const base = 'http://gatehouse.test/api/v4/user/applications';
  t.deepEqual(
    ['x-total', 'x-total-pages', 'x-per-page', 'x-page', 'x-next-page', 'x-prev-page', 'link'].map((h) => response.headers.get(h)),
    ['3', '1', '20', '1', '', '', `<${base}?page=1&per_page=20>; rel="first", <${base}?page=1&per_page=20>; rel="last"`],
  );

  const second = await app.request(`${USER_APPS}?per_page=1&page=2`, { token: alice.plaintext });
  t.deepEqual(statusAndBody(second), [200, [appJson(mine[1])]]);
  t.deepEqual(
    ['x-total', 'x-total-pages', 'x-per-page', 'x-page', 'x-next-page', 'x-prev-page', 'link'].map((h) => second.headers.get(h)),
    [
      '3',
      '3',
      '1',
      '2',
      '3',
      '1',
      `<${base}?per_page=1&page=1>; rel="prev", <${base}?per_page=1&page=3>; rel="next", <${base}?per_page=1&page=1>; rel="first", <${base}?per_page=1&page=3>; rel="last"`,
    ],
  );

  const empty = await app.request(USER_APPS, { token: (await userWithToken(app)).plaintext });
  t.deepEqual(statusAndBody(empty), [200, []]);
  t.is(empty.headers.get('x-total-pages'), '1');

  t.deepEqual(statusAndBody(await app.request(`${USER_APPS}?per_page=0`, { token: alice.plaintext })), [400, grape('per_page has a value not allowed')]);
  t.deepEqual(statusAndBody(await app.request(`${USER_APPS}?page=x`, { token: alice.plaintext })), [400, grape('page is invalid')]);
});

// --- GET /user/applications/:id -------------------------------------------------------------------

test('show: 200 for the caller\'s own application, never with its secret; 404 unknown; 400 for a non-integer id', async (t) => {
  const { plaintext } = await userWithToken(app);
  const created = await createApp(t, app, plaintext);
  const response = await app.request(userApp(created.id), { token: plaintext });
  t.deepEqual(statusAndBody(response), [200, appJson(created)]);
  t.false(response.text.includes(created.secret));
  t.deepEqual(statusAndBody(await app.request(userApp(999_999), { token: plaintext })), [404, APPLICATION_NOT_FOUND]);
  t.deepEqual(statusAndBody(await app.request(userApp('abc'), { token: plaintext })), [400, grape('id is invalid')]);
});

// --- PUT /user/applications/:id -------------------------------------------------------------------

test('update: name, redirect_uri, scopes and confidential change; the secret and client id never do', async (t) => {
  // Its own app: it moves the clock, which the other tests' timestamps must not see.
  const app = await startTestApp();
  t.teardown(() => app.close());
  const { user, plaintext } = await userWithToken(app);
  const created = await createApp(t, app, plaintext);
  const before = (await appRow(app, created.id))!;
  app.clock.advance(60_000);
  const later = new Date(Date.parse(NOW) + 60_000).toISOString();
  const response = await app.request(userApp(created.id), {
    method: 'PUT',
    token: plaintext,
    body: { name: 'review 43', redirect_uri: 'https://review-43.example.com/auth/callback', scopes: 'read_user openid', confidential: false, secret: 'gloas-' + '0'.repeat(64), application_id: 'x' },
  });
  const expected = appJson(created, {
    application_name: 'review 43',
    callback_url: 'https://review-43.example.com/auth/callback',
    scopes: ['read_user', 'openid'],
    confidential: false,
  });
  t.deepEqual(statusAndBody(response), [200, expected]);
  t.false('secret' in response.body);
  t.deepEqual(await appRow(app, created.id), {
    ...before,
    owner_id: user.id,
    name: 'review 43',
    redirect_uri: 'https://review-43.example.com/auth/callback',
    scopes: ['read_user', 'openid'],
    confidential: false,
    updated_at: later,
  });
  t.true(Boolean(await app.services['oauth-applications'].applications.authenticateClient(created.application_id, created.secret)));

  // Only what is given changes; a form body works as well.
  const renamed = await app.request(userApp(created.id), { method: 'PUT', token: plaintext, form: { name: 'review 44' } });
  t.deepEqual(statusAndBody(renamed), [200, { ...expected, application_name: 'review 44' }]);
  const nothing = await app.request(userApp(created.id), { method: 'PUT', token: plaintext, body: {} });
  t.deepEqual(statusAndBody(nothing), [200, { ...expected, application_name: 'review 44' }]);
});

test('update: GitLab\'s 400s, and nothing changes', async (t) => {
  const { plaintext } = await userWithToken(app);
  const created = await createApp(t, app, plaintext);
  const before = await appRow(app, created.id);
  const cases: Array<[Record<string, unknown>, unknown]> = [
    [{ name: '' }, modelError({ name: [CANT_BE_BLANK] })],
    [{ name: 'n'.repeat(256) }, modelError({ name: ['is too long (maximum is 255 characters)'] })],
    [{ redirect_uri: 'wrong_url_format' }, modelError({ redirect_uri: [INVALID_URI] })],
    [{ redirect_uri: 'javascript://alert()' }, modelError({ redirect_uri: [FORBIDDEN_URI] })],
    [{ redirect_uri: '' }, modelError({ redirect_uri: [CANT_BE_BLANK] })],
    [{ scopes: 'api nope' }, modelError({ scopes: [SCOPES_NOT_CONFIGURED] })],
    [{ name: '', scopes: 'nope' }, modelError({ name: [CANT_BE_BLANK], scopes: [SCOPES_NOT_CONFIGURED] })],
    [{ scopes: '' }, grape('scopes is empty')],
    [{ confidential: 'sometimes' }, grape('confidential is invalid')],
  ];
  for (const [body, error] of cases) {
    const response = await app.request(userApp(created.id), { method: 'PUT', token: plaintext, body });
    t.deepEqual(statusAndBody(response), [400, error], JSON.stringify(body));
  }
  t.deepEqual(await appRow(app, created.id), before);
  t.deepEqual(statusAndBody(await app.request(userApp(999_999), { method: 'PUT', token: plaintext, body: { name: 'x' } })), [404, APPLICATION_NOT_FOUND]);
});

// --- DELETE /user/applications/:id ----------------------------------------------------------------

test('delete: 204 with no body and the row is gone; bodies as clients send them on DELETE are read', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  const variants: Array<Record<string, unknown>> = [
    {},
    { body: {} },
    { raw: '', headers: { 'Content-Type': 'application/json' } },
    { form: {} },
  ];
  for (const variant of variants) {
    const created = await createApp(t, app, plaintext);
    const response = await app.request(userApp(created.id), { method: 'DELETE', token: plaintext, ...variant });
    t.deepEqual([response.status, response.text], [204, ''], JSON.stringify(variant));
    t.is(await appRow(app, created.id), undefined);
    t.false(await app.services['oauth-applications'].applications.authenticateClient(created.application_id, created.secret).then(Boolean));
    t.deepEqual(statusAndBody(await app.request(userApp(created.id), { method: 'DELETE', token: plaintext })), [404, APPLICATION_NOT_FOUND]);
  }
  t.is(await countApps(app, { owner_id: user.id }), 0);
});

// --- IDOR ------------------------------------------------------------------------------------------

test('IDOR: users cannot read, update or delete each other\'s applications (403, unchanged), in both directions', async (t) => {
  const alice = await userWithToken(app);
  const bob = await userWithToken(app);
  const alicesApp = await createApp(t, app, alice.plaintext);
  const bobsApp = await createApp(t, app, bob.plaintext);
  for (const [intruder, victimApp] of [
    [bob.plaintext, alicesApp],
    [alice.plaintext, bobsApp],
  ] as const) {
    const before = await appRow(app, victimApp.id);
    const attempts: Array<[string, unknown?]> = [
      ['GET'],
      ['PUT', { name: 'hijacked', redirect_uri: 'https://evil.example/cb', scopes: 'api' }],
      ['DELETE'],
    ];
    for (const [method, body] of attempts) {
      const response = await app.request(userApp(victimApp.id), { method, token: intruder, body });
      t.deepEqual(statusAndBody(response), [403, FORBIDDEN], `${method} ${victimApp.id}`);
      t.false(response.text.includes(victimApp.application_id));
      t.deepEqual(await appRow(app, victimApp.id), before);
    }
  }
  // Each still sees exactly their own.
  t.deepEqual((await app.request(USER_APPS, { token: alice.plaintext })).body, [appJson(alicesApp)]);
  t.deepEqual((await app.request(USER_APPS, { token: bob.plaintext })).body, [appJson(bobsApp)]);
});

test('IDOR: an instance-wide application is not reachable through /user/applications, not even by an admin', async (t) => {
  const instance = await createApp(t, app, ROOT_TOKEN, INSTANCE_APPS);
  const before = await appRow(app, instance.id);
  const { plaintext } = await userWithToken(app);
  for (const token of [plaintext, ROOT_TOKEN]) {
    for (const [method, body] of [['GET'], ['PUT', { name: 'mine now' }], ['DELETE']] as Array<[string, unknown?]>) {
      const response = await app.request(userApp(instance.id), { method, token, body });
      t.deepEqual(statusAndBody(response), [403, FORBIDDEN], `${method} as ${token === ROOT_TOKEN ? 'admin' : 'user'}`);
      t.deepEqual(await appRow(app, instance.id), before);
    }
    t.false((await app.request(USER_APPS, { token })).body.some((listed: { id: number }) => listed.id === instance.id));
  }
});

test('an admin\'s own applications through /user/applications are theirs; other users\' are still 403 for them', async (t) => {
  const admin = await userWithToken(app, ['api'], { admin: true });
  const own = await createApp(t, app, admin.plaintext);
  t.is((await appRow(app, own.id))?.owner_id, admin.user.id);
  t.deepEqual(statusAndBody(await app.request(userApp(own.id), { token: admin.plaintext })), [200, appJson(own)]);
  t.deepEqual((await app.request(USER_APPS, { token: admin.plaintext })).body, [appJson(own)]);
  const alice = await userWithToken(app);
  const alicesApp = await createApp(t, app, alice.plaintext);
  const before = await appRow(app, alicesApp.id);
  for (const [method, body] of [['GET'], ['PUT', { name: 'admin was here' }], ['DELETE']] as Array<[string, unknown?]>) {
    const response = await app.request(userApp(alicesApp.id), { method, token: admin.plaintext, body });
    t.deepEqual(statusAndBody(response), [403, FORBIDDEN], method);
  }
  t.deepEqual(await appRow(app, alicesApp.id), before);
});

// --- owner deletion ------------------------------------------------------------------------------

test('deleting a user through the admin users API removes their applications, and only theirs', async (t) => {
  const alice = await userWithToken(app);
  const bob = await userWithToken(app);
  const alicesApps = [await createApp(t, app, alice.plaintext), await createApp(t, app, alice.plaintext)];
  const bobsApp = await createApp(t, app, bob.plaintext);
  const instance = await createApp(t, app, ROOT_TOKEN, INSTANCE_APPS);
  const bobBefore = await appRow(app, bobsApp.id);

  const deleted = await app.request(`/api/v4/users/${alice.user.id}`, { method: 'DELETE', token: ROOT_TOKEN });
  t.is(deleted.status, 204);
  t.is(await countApps(app, { owner_id: alice.user.id }), 0);
  for (const gone of alicesApps) {
    t.is(await appRow(app, gone.id), undefined);
    t.false(await app.services['oauth-applications'].applications.authenticateClient(gone.application_id, gone.secret).then(Boolean));
  }
  t.deepEqual(await appRow(app, bobsApp.id), bobBefore);
  t.truthy(await appRow(app, instance.id));
});
