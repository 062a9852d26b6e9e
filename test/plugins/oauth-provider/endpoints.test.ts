import test from 'ava';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { ROOT_TOKEN, startTestApp, TEST_DATABASE_URL, TEST_REDIS_URL, type TestApp } from '../../helpers/app.js';
import { Browser, REDIRECT, basic, issueTokens, oauthError, registerApp, registerInstanceApp, signedInUser, tokenRequest } from './_support.js';

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

const EXPIRED = { error: 'invalid_token', error_description: 'Token is expired. You can either do re-authorization or token refresh.' };
const REVOKED = { error: 'invalid_token', error_description: 'Token was revoked. You have to re-authorize from the user.' };
const INVALID_TOKEN = { error: 'invalid_token', error_description: 'The access token is invalid', state: 'unauthorized' };
const DOORKEEPER_CHALLENGE = 'Bearer realm="Doorkeeper", error="invalid_token", error_description="The access token is invalid"';
const REVOKE_REFUSED = { error: 'unauthorized_client', error_description: 'You are not authorized to revoke this token' };

async function tokens(scope = 'api', appBody: Record<string, unknown> = {}) {
  const signed = await signedInUser(app);
  const client = await registerApp(app, signed.pat, appBody);
  return { ...signed, client, ...(await issueTokens(app, signed.browser, client, scope)) };
}

test('the API accepts OAuth tokens as Bearer and ?access_token=, with PAT scope rules; PRIVATE-TOKEN does not take them', async (t) => {
  const { access_token: token, user } = await tokens('read_user');
  t.is((await app.request('/api/v4/user', { token, auth: 'bearer' })).body.id, user.id);
  t.is((await app.request(`/api/v4/user?access_token=${token}`)).body.id, user.id);
  const write = await app.request('/api/v4/user/applications', { method: 'POST', token, auth: 'bearer', body: { name: 'x', redirect_uri: REDIRECT, scopes: 'api' } });
  t.is(write.status, 403);
  t.deepEqual(write.body, { error: 'insufficient_scope', error_description: 'The request requires higher privileges than provided by the access token.', scope: 'api' });
  const readApi = await tokens('read_api', { scopes: 'read_api' });
  t.is((await app.request('/api/v4/user/applications', { token: readApi.access_token, auth: 'bearer' })).status, 200);
  t.is((await app.request('/api/v4/user/applications', { method: 'POST', token: readApi.access_token, auth: 'bearer', body: {} })).status, 403);
  t.is((await app.request('/api/v4/user', { token })).status, 401, 'PRIVATE-TOKEN is for personal access tokens');
  const self = await app.request('/api/v4/personal_access_tokens/self', { token, auth: 'bearer' });
  t.is(self.status, 400);
});

test.serial('an expired OAuth token answers GitLab\'s invalid_token "expired"; token info answers 401 invalid', async (t) => {
  const { access_token: token } = await tokens();
  app.clock.advance(7200_000);
  const response = await app.request('/api/v4/user', { token, auth: 'bearer' });
  t.deepEqual([response.status, response.body], [401, EXPIRED]);
  t.regex(response.headers.get('www-authenticate')!, /error="invalid_token"/);
  const info = await app.request('/oauth/token/info', { token, auth: 'bearer' });
  t.deepEqual([info.status, info.body], [401, INVALID_TOKEN]);
  t.is(info.headers.get('www-authenticate'), DOORKEEPER_CHALLENGE);
});

test('GET /oauth/token/info: GitLab\'s body (scope as an array, deprecated aliases) by Bearer or access_token; 401 otherwise', async (t) => {
  const { access_token: token, user, client } = await tokens('api read_user');
  const info = await app.request('/oauth/token/info', { token, auth: 'bearer' });
  t.is(info.status, 200);
  t.deepEqual(info.body, {
    resource_owner_id: user.id,
    scope: ['api', 'read_user'],
    expires_in: 7200,
    application: { uid: client.application_id },
    created_at: Math.floor(app.clock.now().getTime() / 1000),
    scopes: ['api', 'read_user'],
    expires_in_seconds: 7200,
  });
  t.is(info.headers.get('access-control-allow-origin'), '*');
  t.regex(info.headers.get('access-control-allow-headers')!, /x-gitlab-language-server-version/);
  t.deepEqual((await app.request(`/oauth/token/info?access_token=${token}`)).body.resource_owner_id, user.id);
  for (const options of [{}, { token: 'f'.repeat(64), auth: 'bearer' as const }, { token: ROOT_TOKEN, auth: 'bearer' as const }]) {
    const refused = await app.request('/oauth/token/info', options);
    t.deepEqual([refused.status, refused.body], [401, INVALID_TOKEN]);
    t.is(refused.headers.get('www-authenticate'), DOORKEEPER_CHALLENGE);
  }
});

test('POST /oauth/revoke: client authentication, 200 {} for unknown tokens, 403 for others\' confidential tokens; revocation is immediate', async (t) => {
  const { access_token: token, refresh_token: refresh, client, pat } = await tokens();
  const revoke = (form: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${app.url}/oauth/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form) }).then(async (r) => [r.status, await r.json()]);
  t.deepEqual(await revoke({ token }), [403, REVOKE_REFUSED]);
  t.deepEqual(await revoke({ token, client_id: client.application_id, client_secret: 'gloas-wrong' }), [403, REVOKE_REFUSED]);
  const other = await registerApp(app, pat);
  t.deepEqual(await revoke({ token, client_id: other.application_id, client_secret: other.secret }), [403, REVOKE_REFUSED]);
  t.deepEqual(await revoke({ token: 'unknown', client_id: client.application_id, client_secret: client.secret }), [200, {}]);
  t.is((await app.request('/api/v4/user', { token, auth: 'bearer' })).status, 200, 'still valid');
  t.deepEqual(await revoke({ token }, basic(client.application_id, client.secret)), [200, {}]);
  const after = await app.request('/api/v4/user', { token, auth: 'bearer' });
  t.deepEqual([after.status, after.body], [401, REVOKED]);
  const refreshed = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: refresh, client_id: client.application_id, client_secret: client.secret });
  t.deepEqual([refreshed.status, refreshed.body], [400, oauthError('invalid_grant')], 'the refresh token went with it');
  // A refresh token revoked by hint.
  const second = await tokens();
  t.deepEqual(await revoke({ token: second.refresh_token, token_type_hint: 'refresh_token', client_id: second.client.application_id, client_secret: second.client.secret }), [200, {}]);
  t.is((await app.request('/api/v4/user', { token: second.access_token, auth: 'bearer' })).status, 401);
});

test('POST /oauth/introspect: active for the caller\'s own tokens, inactive otherwise; unauthenticated callers refused', async (t) => {
  const { access_token: token, client, pat } = await tokens('api read_user');
  const introspect = (form: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${app.url}/oauth/introspect`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form) }).then(async (r) => [r.status, await r.json()]);
  const created = Math.floor(app.clock.now().getTime() / 1000);
  t.deepEqual(await introspect({ token }, basic(client.application_id, client.secret)), [
    200,
    { active: true, scope: 'api read_user', client_id: client.application_id, token_type: 'Bearer', exp: created + 7200, iat: created },
  ]);
  t.deepEqual((await introspect({ token }, { authorization: `Bearer ${token}` }))[1].active, true);
  const other = await registerApp(app, pat);
  t.deepEqual(await introspect({ token, client_id: other.application_id, client_secret: other.secret }), [200, { active: false }]);
  t.deepEqual(await introspect({ token: 'nope' }, basic(client.application_id, client.secret)), [200, { active: false }]);
  t.deepEqual(await introspect({ token }), [400, oauthError('invalid_request', 'Request need to be authorized. Required parameter for authorizing request is missing or invalid.')]);
  t.deepEqual(await introspect({ token }, basic(client.application_id, 'gloas-bad')), [401, oauthError('invalid_client')]);
  t.deepEqual((await introspect({ token }, { authorization: `Bearer ${'0'.repeat(64)}` }))[0], 401);
});

test('GET|POST /oauth/userinfo: claims for openid tokens, email only with the email scope; 403 without openid, 401 empty for bad tokens', async (t) => {
  const { access_token: token, user } = await tokens('openid profile email');
  for (const method of ['GET', 'POST']) {
    const response = await app.request('/oauth/userinfo', { method, token, auth: 'bearer' });
    t.is(response.status, 200);
    t.like(response.body, { sub: String(user.id), name: user.name, nickname: user.username, preferred_username: user.username, email: user.email, email_verified: true, profile: `http://gatehouse.test/${user.username}` });
    t.regex(response.body.sub_legacy, /^[0-9a-f]{64}$/);
  }
  const noEmail = await tokens('openid');
  t.false('email' in (await app.request('/oauth/userinfo', { token: noEmail.access_token, auth: 'bearer' })).body);
  const noOpenid = await tokens('api');
  const forbidden = await app.request('/oauth/userinfo', { token: noOpenid.access_token, auth: 'bearer' });
  t.deepEqual([forbidden.status, forbidden.text], [403, '']);
  const invalid = await app.request('/oauth/userinfo', { token: 'f'.repeat(64), auth: 'bearer' });
  t.deepEqual([invalid.status, invalid.text], [401, '']);
  t.is(invalid.headers.get('www-authenticate'), DOORKEEPER_CHALLENGE);
});

test('/.well-known/openid-configuration is the complete discovery document', async (t) => {
  const response = await app.request('/.well-known/openid-configuration');
  t.is(response.status, 200);
  const issuer = 'http://gatehouse.test';
  t.like(response.body, {
    issuer,
    authorization_endpoint: `${issuer}/oauth/authorize`,
    token_endpoint: `${issuer}/oauth/token`,
    revocation_endpoint: `${issuer}/oauth/revoke`,
    introspection_endpoint: `${issuer}/oauth/introspect`,
    userinfo_endpoint: `${issuer}/oauth/userinfo`,
    jwks_uri: `${issuer}/oauth/discovery/keys`,
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code', 'client_credentials', 'device_code', 'refresh_token'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    id_token_signing_alg_values_supported: ['RS256'],
    code_challenge_methods_supported: ['plain', 'S256'],
  });
  t.deepEqual(Object.keys(response.body).slice(0, 8), ['issuer', 'authorization_endpoint', 'token_endpoint', 'revocation_endpoint', 'introspection_endpoint', 'userinfo_endpoint', 'jwks_uri', 'scopes_supported']);
  t.true(response.body.scopes_supported.includes('openid'));
  t.false('end_session_endpoint' in response.body);
  const metadata = await app.request('/.well-known/oauth-authorization-server');
  t.deepEqual(metadata.body, response.body);
  t.is(metadata.headers.get('cache-control'), 'max-age=86400, public, must-revalidate, no-transform');
});

test('renewing an application\'s secret or deleting it revokes its tokens at once; blocking the user refuses them', async (t) => {
  const instance = await registerInstanceApp(app);
  const { browser, user } = await signedInUser(app);
  const renewed = await issueTokens(app, browser, instance);
  t.is((await app.request('/api/v4/user', { token: renewed.access_token, auth: 'bearer' })).status, 200);
  t.is((await app.request(`/api/v4/applications/${instance.id}/renew-secret`, { method: 'POST', token: ROOT_TOKEN })).status, 201);
  t.deepEqual((await app.request('/api/v4/user', { token: renewed.access_token, auth: 'bearer' })).body, REVOKED);

  const { access_token: token, client, pat } = await tokens();
  t.is((await app.request('/api/v4/user', { token, auth: 'bearer' })).status, 200);
  t.is((await app.request(`/api/v4/user/applications/${client.id}`, { method: 'DELETE', token: pat })).status, 204);
  t.is((await app.request('/api/v4/user', { token, auth: 'bearer' })).status, 401);
  t.is(Number((await app.db('oauth_access_tokens').where({ application_id: client.id }).count({ n: '*' }).first())?.n), 0);

  const blocked = await tokens();
  t.is((await app.request(`/api/v4/users/${blocked.user.id}/block`, { method: 'POST', token: ROOT_TOKEN })).status, 201);
  const refused = await app.request('/api/v4/user', { token: blocked.access_token, auth: 'bearer' });
  t.deepEqual([refused.status, refused.body], [403, { message: '403 Forbidden - Your account has been blocked.' }]);
  t.is((await app.request('/oauth/token/info', { token: blocked.access_token, auth: 'bearer' })).status, 401);
  const refresh = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: blocked.refresh_token, client_id: blocked.client.application_id, client_secret: blocked.client.secret });
  t.is(refresh.status, 400);
  void user;
  void Browser;
});

const twoInstances = TEST_DATABASE_URL && TEST_REDIS_URL ? test : test.skip;
if (!(TEST_DATABASE_URL && TEST_REDIS_URL)) console.log('oauth-provider: the two-instance revocation test needs GATEHOUSE_TEST_DATABASE_URL and GATEHOUSE_TEST_REDIS_URL (skipped)');

twoInstances('revocation on one instance is refused at once by another that cached the token', async (t) => {
  const second = await startTestApp({ joining: app });
  t.teardown(() => second.close());
  const { access_token: token, client } = await tokens();
  t.is((await second.request('/api/v4/user', { token, auth: 'bearer' })).status, 200, 'cached on the second instance');
  t.is((await second.request('/oauth/token/info', { token, auth: 'bearer' })).status, 200);
  const revoked = await fetch(`${app.url}/oauth/revoke`, { method: 'POST', headers: basic(client.application_id, client.secret), body: new URLSearchParams({ token }) });
  t.is(revoked.status, 200);
  const after = await second.request('/api/v4/user', { token, auth: 'bearer' });
  t.deepEqual([after.status, after.body], [401, REVOKED]);
  t.is((await second.request('/oauth/token/info', { token, auth: 'bearer' })).status, 401);

  const other = await tokens();
  t.is((await second.request('/api/v4/user', { token: other.access_token, auth: 'bearer' })).status, 200);
  t.is((await app.request(`/api/v4/user/applications/${other.client.id}`, { method: 'DELETE', token: other.pat })).status, 204);
  t.is((await second.request('/api/v4/user', { token: other.access_token, auth: 'bearer' })).status, 401);

  const instanceApp = await registerInstanceApp(app);
  const signed = await signedInUser(app);
  const renewed = await issueTokens(app, signed.browser, instanceApp);
  t.is((await second.request('/api/v4/user', { token: renewed.access_token, auth: 'bearer' })).status, 200);
  t.is((await app.request(`/api/v4/applications/${instanceApp.id}/renew-secret`, { method: 'POST', token: ROOT_TOKEN })).status, 201);
  t.deepEqual((await second.request('/api/v4/user', { token: renewed.access_token, auth: 'bearer' })).body, REVOKED);

  const blocked = await tokens();
  t.is((await second.request('/api/v4/user', { token: blocked.access_token, auth: 'bearer' })).status, 200);
  t.is((await app.request(`/api/v4/users/${blocked.user.id}/block`, { method: 'POST', token: ROOT_TOKEN })).status, 201);
  t.is((await second.request('/api/v4/user', { token: blocked.access_token, auth: 'bearer' })).status, 403);
  t.is((await second.request('/oauth/token/info', { token: blocked.access_token, auth: 'bearer' })).status, 401);
});

test('the user revokes a grant on /oauth/authorized_applications: every token of that application stops at once, others stay', async (t) => {
  const first = await tokens();
  const otherClient = await registerApp(app, first.pat, { name: 'Other app' });
  const other = await issueTokens(app, first.browser, otherClient);
  const page = await first.browser.get('/oauth/authorized_applications');
  t.is(page.status, 200);
  t.regex(page.text, /<td>Review app<\/td>/);
  t.regex(page.text, /<td>Other app<\/td>/);
  t.is(page.headers.get('x-frame-options'), 'DENY');
  const forged = await first.browser.post(`/oauth/authorized_applications/${first.client.id}`, { _method: 'delete', authenticity_token: 'forged' });
  t.is(forged.status, 422);
  t.is((await app.request('/api/v4/user', { token: first.access_token, auth: 'bearer' })).status, 200);
  const revoked = await first.browser.post(`/oauth/authorized_applications/${first.client.id}`, { _method: 'delete', authenticity_token: Browser.csrf(page) });
  t.deepEqual([revoked.status, revoked.location], [302, '/oauth/authorized_applications?flash=revoked']);
  t.deepEqual((await app.request('/api/v4/user', { token: first.access_token, auth: 'bearer' })).body, REVOKED);
  t.is((await app.request('/api/v4/user', { token: other.access_token, auth: 'bearer' })).status, 200);
  const after = await first.browser.get('/oauth/authorized_applications?flash=revoked');
  t.notRegex(after.text, /<td>Review app<\/td>/);
  t.regex(after.text, /The application was revoked access\./);
  t.is((await new Browser(app.url).get('/oauth/authorized_applications')).status, 302);
});

test('with the provider disabled, discovery is the verifier-only document and the provider\'s paths do not exist', async (t) => {
  const local = await startTestApp({ config: { plugins: { 'oauth-provider': { enabled: false } } } });
  t.teardown(() => local.close());
  t.deepEqual((await local.request('/.well-known/openid-configuration')).body, {
    issuer: 'http://gatehouse.test',
    jwks_uri: 'http://gatehouse.test/oauth/discovery/keys',
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
  });
  t.is((await local.request('/oauth/token', { method: 'POST', form: { grant_type: 'client_credentials' } })).status, 404);
  t.is((await local.request('/users/sign_in')).status, 404);
});

test('with code-suggestions disabled, the provider boots: discovery lists its endpoints and ID tokens verify against /oauth/discovery/keys', async (t) => {
  const local = await startTestApp({ config: { plugins: { 'code-suggestions': { enabled: false } } } });
  t.teardown(() => local.close());
  t.false(local.gateway.plugins.some((plugin) => plugin.name === 'code-suggestions'));
  const discovery = (await local.request('/.well-known/openid-configuration')).body;
  t.deepEqual(discovery, (await app.request('/.well-known/openid-configuration')).body);
  t.like(discovery, { token_endpoint: 'http://gatehouse.test/oauth/token', jwks_uri: 'http://gatehouse.test/oauth/discovery/keys' });
  const signed = await signedInUser(local);
  const client = await registerApp(local, signed.pat);
  const { id_token: idToken } = await issueTokens(local, signed.browser, client, 'openid');
  const jwks = createRemoteJWKSet(new URL(`${local.url}/oauth/discovery/keys`));
  const { payload, protectedHeader } = await jwtVerify(idToken!, jwks, { issuer: 'http://gatehouse.test', audience: client.application_id, currentDate: local.clock.now() });
  t.is(payload.sub, String(signed.user.id));
  t.is(protectedHeader.kid, local.gateway.instanceKeys.currentKid);
});

test('userinfo lists the user\'s groups (inherited ones included) and the ID token their direct groups', async (t) => {
  const signed = await signedInUser(app);
  const path = `team-${signed.user.id}`;
  const group = await app.request('/api/v4/groups', { method: 'POST', token: signed.pat, body: { name: path, path } });
  t.is(group.status, 201, group.text);
  const sub = await app.request('/api/v4/groups', { method: 'POST', token: ROOT_TOKEN, body: { name: 'sub', path: 'sub', parent_id: group.body.id } });
  t.is(sub.status, 201, sub.text);
  const client = await registerApp(app, signed.pat);
  const issued = await issueTokens(app, signed.browser, client, 'openid');
  const info = await app.request('/oauth/userinfo', { token: issued.access_token, auth: 'bearer' });
  t.deepEqual(info.body.groups, [path, `${path}/sub`]);
  t.deepEqual(info.body['https://gitlab.org/claims/groups/owner'], [path, `${path}/sub`], 'the creator owns the group, and so its subgroup');
  t.false('https://gitlab.org/claims/groups/developer' in info.body, 'empty role claims are left out');
  const claims = JSON.parse(Buffer.from(issued.id_token!.split('.')[1], 'base64url').toString());
  t.deepEqual(claims.groups_direct, [path]);
});
