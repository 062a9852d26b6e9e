import test from 'ava';
import { ROOT_TOKEN, startTestApp, type TestApp } from '../../helpers/app.js';
import { Browser, DESCRIPTIONS, HEX64, basic, formFields, oauthError, registerApp, signedInUser, tokenRequest, type ClientApp } from './_support.js';

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const pending = (code: string) => oauthError(code, DESCRIPTIONS.server_error);

async function authorizeDevice(client: Pick<ClientApp, 'application_id'>, form: Record<string, string> = { scope: 'api' }) {
  const response = await fetch(`${app.url}/oauth/authorize_device`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: client.application_id, ...form }),
  });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

const poll = (client: ClientApp, deviceCode: string) => tokenRequest(app, { grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: client.application_id });

async function deviceClient() {
  const signed = await signedInUser(app);
  const client = await registerApp(app, signed.pat, { confidential: false, device_code_enabled: true, scopes: 'api read_user' });
  return { ...signed, client };
}

/** The user types the code on /oauth/device, sees the confirmation page, then presses a button. */
async function enterCode(browser: Browser, userCode: string, decision: 'authorize' | 'deny' = 'authorize') {
  const page = await browser.get(`/oauth/device?user_code=${userCode}`);
  const confirm = await browser.post('/oauth/device/confirm', { authenticity_token: Browser.csrf(page), user_code: userCode });
  if (confirm.status !== 200 || !confirm.text.includes('<form method="post" action="/oauth/device">')) return confirm;
  return browser.post('/oauth/device', { ...formFields(confirm, decision === 'authorize' ? 0 : 1), decision });
}

test('POST /oauth/authorize_device: the device and user codes, the verification URIs, 300 s and 5 s, no-store', async (t) => {
  const { client } = await deviceClient();
  const response = await authorizeDevice(client, { scope: 'read_user' });
  t.is(response.status, 200);
  t.deepEqual(Object.keys(response.body), ['device_code', 'user_code', 'verification_uri', 'verification_uri_complete', 'expires_in', 'interval']);
  t.regex(response.body.device_code, HEX64);
  t.regex(response.body.user_code, /^[0-9A-Z]{8}$/);
  t.like(response.body, {
    verification_uri: 'http://gatehouse.test/oauth/device',
    verification_uri_complete: `http://gatehouse.test/oauth/device?user_code=${response.body.user_code}`,
    expires_in: 300,
    interval: 5,
  });
  t.is(response.headers.get('cache-control'), 'no-store');
  t.is(response.headers.get('pragma'), 'no-cache');
  const row = await app.db('oauth_device_grants').where({ application_id: client.id }).first();
  t.not(row.digest, response.body.device_code);
  t.not(row.user_code_digest, response.body.user_code);
});

test('POST /oauth/authorize_device errors: unknown client 401, scope required and within the application\'s, device flow off → access_denied', async (t) => {
  const { client, pat } = await deviceClient();
  t.deepEqual(await authorizeDevice({ application_id: 'nope' }).then((r) => [r.status, r.body]), [401, oauthError('invalid_client')]);
  t.deepEqual(await authorizeDevice(client, {}).then((r) => [r.status, r.body]), [400, oauthError('invalid_scope')]);
  t.deepEqual(await authorizeDevice(client, { scope: 'sudo' }).then((r) => [r.status, r.body]), [400, oauthError('invalid_scope')]);
  const off = await registerApp(app, pat, { confidential: false });
  t.false(off.device_code_enabled);
  t.deepEqual(await authorizeDevice(off).then((r) => [r.status, r.body]), [400, oauthError('access_denied')]);
  const confidential = await registerApp(app, pat, { device_code_enabled: true });
  t.deepEqual(await authorizeDevice(confidential).then((r) => [r.status, r.body]), [401, oauthError('invalid_client')], 'a confidential client needs its secret');
  const withSecret = await fetch(`${app.url}/oauth/authorize_device`, { method: 'POST', headers: basic(confidential.application_id, confidential.secret), body: new URLSearchParams({ scope: 'api' }) });
  t.is(withSecret.status, 200);
  t.is(Number((await app.db('oauth_device_grants').where({ application_id: client.id }).count({ n: '*' }).first())?.n), 0);
});

test.serial('polling: authorization_pending, slow_down when too fast, then the token (with a refresh token) once the user authorized', async (t) => {
  const { client, browser, user } = await deviceClient();
  const { body } = await authorizeDevice(client);
  t.deepEqual(await poll(client, body.device_code).then((r) => [r.status, r.body]), [400, pending('authorization_pending')]);
  t.deepEqual(await poll(client, body.device_code).then((r) => [r.status, r.body]), [400, pending('slow_down')]);
  app.clock.advance(5_000);
  t.deepEqual((await poll(client, body.device_code)).body, pending('authorization_pending'));

  const decided = await enterCode(browser, body.user_code.toLowerCase());
  t.is(decided.status, 302);
  t.is(decided.location, '/oauth/device?flash=authorized');
  t.regex((await browser.get(decided.location!)).text, /Device successfully authorized/);

  app.clock.advance(5_000);
  const token = await poll(client, body.device_code);
  t.is(token.status, 200, token.text);
  t.deepEqual(Object.keys(token.body), ['access_token', 'token_type', 'expires_in', 'refresh_token', 'scope', 'created_at']);
  t.is((await app.request('/api/v4/user', { token: token.body.access_token, auth: 'bearer' })).body.id, user.id);
  t.deepEqual(await poll(client, body.device_code).then((r) => [r.status, r.body]), [400, oauthError('invalid_grant')], 'used once');
});

test('the user denies: the next poll is access_denied, then the code is gone', async (t) => {
  const { client, browser } = await deviceClient();
  const { body } = await authorizeDevice(client);
  const decided = await enterCode(browser, body.user_code, 'deny');
  t.is(decided.location, '/oauth/device?flash=denied');
  t.deepEqual(await poll(client, body.device_code).then((r) => [r.status, r.body]), [400, oauthError('access_denied')]);
  t.deepEqual((await poll(client, body.device_code)).body, oauthError('invalid_grant'));
});

test.serial('an expired device code: expired_token, then invalid_grant; its user code is "expired" on the page', async (t) => {
  const { client, browser } = await deviceClient();
  const { body } = await authorizeDevice(client);
  app.clock.advance(300_000);
  const page = await enterCode(browser, body.user_code);
  t.is(page.status, 200);
  t.regex(page.text, /The user code is expired/);
  t.deepEqual(await poll(client, body.device_code).then((r) => [r.status, r.body]), [400, pending('expired_token')]);
  t.deepEqual((await poll(client, body.device_code)).body, oauthError('invalid_grant'));
});

test('unknown codes: the page says "The user code is invalid"; another client\'s device code is invalid_grant; the page needs sign-in and CSRF', async (t) => {
  const { client, browser, pat } = await deviceClient();
  const page = await enterCode(browser, 'ZZZZZZZZ');
  t.regex(page.text, /The user code is invalid/);
  const { body } = await authorizeDevice(client);
  const other = await registerApp(app, pat, { confidential: false, device_code_enabled: true });
  t.deepEqual((await poll(other, body.device_code)).body, oauthError('invalid_grant'));
  const anonymous = new Browser(app.url);
  const redirected = await anonymous.get(`/oauth/device?user_code=${body.user_code}`);
  t.deepEqual([redirected.status, redirected.location], [302, '/users/sign_in']);
  const forged = await browser.post('/oauth/device', { user_code: body.user_code, authenticity_token: 'forged' });
  t.is(forged.status, 422);
  t.deepEqual((await poll(client, body.device_code)).body, pending('authorization_pending'));
  void ROOT_TOKEN;
});
