import test from 'ava';
import { createLocalJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import {
  DESCRIPTIONS,
  HEX64,
  REDIRECT,
  authorize,
  basic,
  issueTokens,
  missing,
  oauthError,
  pkce,
  registerApp,
  signedInUser,
  tokenRequest,
} from './_support.js';

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

const REVOKED = { error: 'invalid_token', error_description: 'Token was revoked. You have to re-authorize from the user.' };
const apiUser = (token: string) => app.request('/api/v4/user', { token, auth: 'bearer' });

test('authorization_code: 200 with Doorkeeper\'s body in order, no-store headers, and only digests stored', async (t) => {
  const { browser, pat, user } = await signedInUser(app);
  const client = await registerApp(app, pat);
  const { code } = await authorize(browser, client, { scope: 'api read_user' });
  const response = await tokenRequest(app, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: client.application_id, client_secret: client.secret });
  t.is(response.status, 200, response.text);
  t.deepEqual(Object.keys(response.body), ['access_token', 'token_type', 'expires_in', 'refresh_token', 'scope', 'created_at']);
  t.regex(response.body.access_token, HEX64);
  t.regex(response.body.refresh_token, HEX64);
  t.like(response.body, { token_type: 'Bearer', expires_in: 7200, scope: 'api read_user', created_at: Math.floor(app.clock.now().getTime() / 1000) });
  t.is(response.headers.get('cache-control'), 'no-store, no-cache');
  t.is(response.headers.get('pragma'), 'no-cache');
  t.is(response.headers.get('access-control-allow-origin'), '*');
  const row = await app.db('oauth_access_tokens').where({ application_id: client.id }).first();
  t.is(Number(row.user_id), user.id);
  t.not(row.digest, response.body.access_token);
  t.not(row.refresh_digest, response.body.refresh_token);
  t.false(JSON.stringify(row).includes(response.body.access_token));
  t.is(Number(row.expires_in), 7200);
  t.truthy((await app.db('oauth_access_grants').where({ application_id: client.id }).first()).used_at);
  const me = await apiUser(response.body.access_token);
  t.is(me.status, 200);
  t.is(me.body.id, user.id);
});

test('authorization_code errors in Doorkeeper\'s order, 400 or 401 with WWW-Authenticate; nothing issued', async (t) => {
  const { browser, pat } = await signedInUser(app);
  const client = await registerApp(app, pat);
  const other = await registerApp(app, pat);
  const { code } = await authorize(browser, client);
  const withPkce = pkce();
  const { code: pkceCode } = await authorize(browser, client, { pkce: withPkce });
  const good = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: client.application_id, client_secret: client.secret };
  const cases: Array<[Record<string, string>, number, Record<string, string>]> = [
    [{ ...good, grant_type: '' }, 400, oauthError('invalid_request', missing('grant_type'))],
    [{ ...good, grant_type: 'password', username: 'x', password: 'y' }, 400, oauthError('unsupported_grant_type')],
    [{ ...good, grant_type: 'implicit' }, 400, oauthError('unsupported_grant_type')],
    [{ ...good, code: '' }, 400, oauthError('invalid_request', missing('code'))],
    [{ ...good, code: pkceCode }, 400, oauthError('invalid_request', missing('code_verifier'))],
    [{ ...good, redirect_uri: '' }, 400, oauthError('invalid_request', missing('redirect_uri'))],
    [{ ...good, client_secret: 'gloas-wrong' }, 401, oauthError('invalid_client')],
    [{ ...good, client_id: '', client_secret: '' }, 401, oauthError('invalid_client')],
    [{ ...good, client_secret: '' }, 401, oauthError('invalid_client')],
    [{ ...good, code: 'f'.repeat(64) }, 400, oauthError('invalid_grant')],
    [{ ...good, client_id: other.application_id, client_secret: other.secret }, 400, oauthError('invalid_grant')],
    [{ ...good, redirect_uri: 'https://client.example.com/other' }, 400, oauthError('invalid_grant')],
    [{ ...good, code_verifier: 'not-asked-for' }, 400, oauthError('invalid_grant')],
    [{ ...good, code: pkceCode, code_verifier: pkce().verifier }, 400, oauthError('invalid_grant')],
  ];
  for (const [form, status, body] of cases) {
    const response = await tokenRequest(app, form);
    t.is(response.status, status, JSON.stringify(form));
    t.deepEqual(response.body, body, JSON.stringify(form));
    t.is(response.headers.get('www-authenticate'), `Bearer realm="Doorkeeper", error="${body.error}", error_description="${body.error_description}"`);
    t.is(response.headers.get('cache-control'), 'no-store, no-cache');
  }
  t.is(Number((await app.db('oauth_access_tokens').where({ application_id: client.id }).count({ n: '*' }).first())?.n), 0);
  // The code was not burnt by the failures.
  t.is((await tokenRequest(app, good)).status, 200);
});

test.serial('codes expire after 10 minutes', async (t) => {
  const { browser, pat } = await signedInUser(app);
  const client = await registerApp(app, pat);
  const { code } = await authorize(browser, client);
  app.clock.advance(600_000);
  const response = await tokenRequest(app, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: client.application_id, client_secret: client.secret });
  t.deepEqual([response.status, response.body], [400, oauthError('invalid_grant')]);
});

test('a code used twice answers invalid_grant and revokes the tokens it issued (RFC 6749 §4.1.2)', async (t) => {
  const { browser, pat } = await signedInUser(app);
  const client = await registerApp(app, pat);
  const { code } = await authorize(browser, client);
  const form = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: client.application_id, client_secret: client.secret };
  const first = await tokenRequest(app, form);
  t.is(first.status, 200);
  t.is((await apiUser(first.body.access_token)).status, 200);
  const second = await tokenRequest(app, form);
  t.deepEqual([second.status, second.body], [400, oauthError('invalid_grant')]);
  const after = await apiUser(first.body.access_token);
  t.deepEqual([after.status, after.body], [401, REVOKED]);
  const refresh = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token, client_id: client.application_id, client_secret: client.secret });
  t.deepEqual([refresh.status, refresh.body], [400, oauthError('invalid_grant')]);
});

test('PKCE S256 and plain; a public client authenticates with client_id alone or Basic with an empty password (golang x/oauth2)', async (t) => {
  const { browser, pat } = await signedInUser(app);
  const client = await registerApp(app, pat, { confidential: false });
  const s256 = pkce();
  const { code } = await authorize(browser, client, { pkce: s256 });
  const viaBasic = await tokenRequest(app, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: s256.verifier }, basic(client.application_id, ''));
  t.is(viaBasic.status, 200, viaBasic.text);
  const plain = 'a-plain-verifier-of-forty-three-characters-xx';
  const { code: plainCode } = await authorize(browser, client, { pkce: { challenge: plain, method: 'plain' } });
  const viaBody = await tokenRequest(app, { grant_type: 'authorization_code', code: plainCode, redirect_uri: REDIRECT, code_verifier: plain, client_id: client.application_id });
  t.is(viaBody.status, 200, viaBody.text);
  // Confidential clients with Basic (client_secret_basic).
  const confidential = await registerApp(app, pat);
  const { code: c3 } = await authorize(browser, confidential);
  const secretBasic = await tokenRequest(app, { grant_type: 'authorization_code', code: c3, redirect_uri: REDIRECT }, basic(confidential.application_id, confidential.secret));
  t.is(secretBasic.status, 200);
});

test.serial('refresh_token rotates: the old access and refresh tokens stop at once, the new pair keeps scopes and lifetime; reuse is invalid_grant', async (t) => {
  const { browser, pat } = await signedInUser(app);
  const client = await registerApp(app, pat);
  const first = await issueTokens(app, browser, client, 'api read_user');
  app.clock.advance(60_000);
  const creds = { client_id: client.application_id, client_secret: client.secret };
  const refreshed = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: first.refresh_token, ...creds });
  t.is(refreshed.status, 200, refreshed.text);
  t.deepEqual(Object.keys(refreshed.body), ['access_token', 'token_type', 'expires_in', 'refresh_token', 'scope', 'created_at']);
  t.like(refreshed.body, { expires_in: 7200, scope: 'api read_user', created_at: Math.floor(app.clock.now().getTime() / 1000) });
  t.not(refreshed.body.refresh_token, first.refresh_token);
  t.deepEqual(await apiUser(first.access_token).then((r) => [r.status, r.body]), [401, REVOKED]);
  t.is((await apiUser(refreshed.body.access_token)).status, 200);
  const replay = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: first.refresh_token, ...creds });
  t.deepEqual([replay.status, replay.body], [400, oauthError('invalid_grant')]);

  const narrowed = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: refreshed.body.refresh_token, scope: 'read_user', ...creds });
  t.like(narrowed.body, { scope: 'read_user' });
  const wider = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: narrowed.body.refresh_token, scope: 'api', ...creds });
  t.deepEqual([wider.status, wider.body], [400, oauthError('invalid_scope')]);
  t.deepEqual((await tokenRequest(app, { grant_type: 'refresh_token', ...creds })).body, oauthError('invalid_request', missing('refresh_token')));
  const other = await registerApp(app, pat);
  const stolen = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: narrowed.body.refresh_token, client_id: other.application_id, client_secret: other.secret });
  t.deepEqual([stolen.status, stolen.body], [400, oauthError('invalid_grant')]);
  const noClient = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: narrowed.body.refresh_token });
  t.deepEqual([noClient.status, noClient.body], [400, oauthError('invalid_grant')]);
  const wrongSecret = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: narrowed.body.refresh_token, client_id: client.application_id, client_secret: 'gloas-x' });
  t.deepEqual([wrongSecret.status, wrongSecret.body], [401, oauthError('invalid_client')]);
  t.is((await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: narrowed.body.refresh_token, ...creds })).status, 200, 'the failures left it valid');
});

test('client_credentials: a secret is required, no refresh token, scopes within the application\'s', async (t) => {
  const { pat } = await signedInUser(app);
  const client = await registerApp(app, pat, { scopes: 'api read_user' });
  const response = await tokenRequest(app, { grant_type: 'client_credentials' }, basic(client.application_id, client.secret));
  t.is(response.status, 200);
  t.deepEqual(Object.keys(response.body), ['access_token', 'token_type', 'expires_in', 'scope', 'created_at']);
  t.is(response.body.scope, 'api read_user');
  const narrowed = await tokenRequest(app, { grant_type: 'client_credentials', scope: 'read_user', client_id: client.application_id, client_secret: client.secret });
  t.is(narrowed.body.scope, 'read_user');
  t.deepEqual((await tokenRequest(app, { grant_type: 'client_credentials', scope: 'sudo', client_id: client.application_id, client_secret: client.secret })).body, oauthError('invalid_scope'));
  const noSecret = await tokenRequest(app, { grant_type: 'client_credentials', client_id: client.application_id });
  t.deepEqual([noSecret.status, noSecret.body], [401, oauthError('invalid_client')]);
  t.is((await apiUser(response.body.access_token)).status, 401, 'a token without a user does not act on the user API');
});

test('openid adds an RS256 ID token signed with the key at /oauth/discovery/keys, with GitLab\'s claims', async (t) => {
  const { browser, pat, user } = await signedInUser(app);
  const client = await registerApp(app, pat);
  const { code } = await authorize(browser, client, { scope: 'openid profile email', nonce: 'n-0S6' });
  const response = await tokenRequest(app, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: client.application_id, client_secret: client.secret });
  t.deepEqual(Object.keys(response.body), ['access_token', 'token_type', 'expires_in', 'refresh_token', 'scope', 'created_at', 'id_token']);
  const jwks = (await app.request('/oauth/discovery/keys')).body;
  const header = decodeProtectedHeader(response.body.id_token);
  t.deepEqual(header, { typ: 'JWT', alg: 'RS256', kid: jwks.keys[0].kid });
  const { payload } = await jwtVerify(response.body.id_token, createLocalJWKSet(jwks), { issuer: 'http://gatehouse.test', audience: client.application_id, currentDate: app.clock.now() });
  const now = Math.floor(app.clock.now().getTime() / 1000);
  t.like(payload, { iss: 'http://gatehouse.test', sub: String(user.id), aud: client.application_id, iat: now, exp: now + 120, nonce: 'n-0S6', name: user.name, nickname: user.username, preferred_username: user.username, email: user.email, email_verified: true, profile: `http://gatehouse.test/${user.username}` });
  t.deepEqual(Object.keys(payload).slice(0, 8), ['iss', 'sub', 'aud', 'exp', 'iat', 'nonce', 'auth_time', 'sub_legacy']);
  t.regex(String(payload.sub_legacy), /^[0-9a-f]{64}$/);
  void DESCRIPTIONS;
});

test('JSON token requests work too; native apps (urn:ietf:wg:oauth:2.0:oob) are sent to /oauth/authorize/native with the code', async (t) => {
  const { browser, pat } = await signedInUser(app);
  const client = await registerApp(app, pat, { redirect_uri: 'urn:ietf:wg:oauth:2.0:oob' });
  const { location, code } = await authorize(browser, client, { redirectUri: 'urn:ietf:wg:oauth:2.0:oob', state: 'n' });
  t.is(location, `http://gatehouse.test/oauth/authorize/native?code=${code}&state=n`);
  const page = await browser.get(`/oauth/authorize/native?code=${code}`);
  t.regex(page.text, new RegExp(`<pre id="authorization_code">${code}</pre>`));
  const response = await fetch(`${app.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'authorization_code', code, redirect_uri: 'urn:ietf:wg:oauth:2.0:oob', client_id: client.application_id, client_secret: client.secret }),
  });
  t.is(response.status, 200);
});

test('gl_auth_type=login ("Sign in with GitLab") narrows the request to read_user', async (t) => {
  const { browser, pat } = await signedInUser(app);
  const client = await registerApp(app, pat);
  const page = await browser.get(`/oauth/authorize?client_id=${client.application_id}&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code&scope=api&gl_auth_type=login`);
  t.regex(page.text, /<strong>read_user<\/strong>/);
  t.notRegex(page.text, /<strong>api<\/strong>/);
});

test.serial('codes expired for more than a day are deleted when new codes are issued', async (t) => {
  const { browser, pat } = await signedInUser(app);
  const client = await registerApp(app, pat);
  await authorize(browser, client);
  const count = async () => Number((await app.db('oauth_access_grants').where({ application_id: client.id }).count({ n: '*' }).first())?.n);
  t.is(await count(), 1);
  app.clock.advance(86_400_000 + 660_000);
  await authorize(browser, client);
  t.is(await count(), 1, 'only the new one is left');
});
