import test from 'ava';
import { ROOT_TOKEN, startTestApp, type TestApp } from '../../helpers/app.js';
import {
  Browser,
  DESCRIPTIONS,
  REDIRECT,
  authorize,
  authorizePath,
  formFields,
  missing,
  pkce,
  registerApp,
  registerInstanceApp,
  signedInUser,
} from './_support.js';

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

const grants = async (applicationId: number) => Number((await app.db('oauth_access_grants').where({ application_id: applicationId }).count({ n: '*' }).first())?.n ?? 0);

test('the consent page names the application and each scope with its description, with Authorize and Deny forms carrying the request and a CSRF token', async (t) => {
  const { browser, pat } = await signedInUser(app);
  const client = await registerApp(app, pat, { name: 'Review <app>' });
  const page = await browser.get(authorizePath({ client_id: client.application_id, redirect_uri: REDIRECT, response_type: 'code', scope: 'api read_user', state: 's t', nonce: 'n1' }));
  t.is(page.status, 200);
  t.is(page.headers.get('x-frame-options'), 'DENY');
  t.regex(page.headers.get('content-security-policy')!, /form-action 'self' https:\/\/client\.example\.com/);
  t.notRegex(page.text, /<script/i);
  t.regex(page.text, /Review &lt;app&gt;/);
  t.notRegex(page.text, /Review <app>/);
  t.regex(page.text, /<strong>api<\/strong>: Grants complete read\/write access to the API/);
  t.regex(page.text, /<strong>read_user<\/strong>: Grants read-only access to your profile/);
  t.regex(page.text, /Authorize Review &lt;app&gt;/);
  t.regex(page.text, />Deny</);
  const approve = formFields(page, 0);
  t.like(approve, { client_id: client.application_id, redirect_uri: REDIRECT, state: 's t', response_type: 'code', scope: 'api read_user', nonce: 'n1' });
  t.truthy(approve.authenticity_token);
  t.is(formFields(page, 1)._method, 'delete');
  t.is(await grants(client.id), 0, 'nothing is issued before consent');
});

test('Authorize: 302 to the redirect URI (its query kept) with a 64-hex code and the state; a 10-minute grant row stores the request', async (t) => {
  const { browser, pat, user } = await signedInUser(app);
  const redirect = 'https://client.example.com/callback?tenant=7';
  const client = await registerApp(app, pat, { redirect_uri: redirect });
  const page = await browser.get(authorizePath({ client_id: client.application_id, redirect_uri: redirect, response_type: 'code', scope: 'read_user', state: 'abc' }));
  const approved = await browser.post('/oauth/authorize', formFields(page, 0));
  t.is(approved.status, 302);
  const location = new URL(approved.location!);
  t.is(`${location.origin}${location.pathname}`, 'https://client.example.com/callback');
  t.is(location.searchParams.get('tenant'), '7');
  t.regex(location.searchParams.get('code')!, /^[0-9a-f]{64}$/);
  t.is(location.searchParams.get('state'), 'abc');
  const row = await app.db('oauth_access_grants').where({ application_id: client.id }).first();
  t.is(Number(row.user_id), user.id);
  t.is(row.redirect_uri, redirect);
  t.deepEqual(JSON.parse(row.scopes), ['read_user']);
  t.is(new Date(row.expires_at).getTime() - new Date(row.created_at).getTime(), 600_000);
  t.not(row.digest, location.searchParams.get('code'), 'only a digest is stored');
});

test('Deny: 302 back with access_denied, its description and the state; no grant', async (t) => {
  const { browser, pat } = await signedInUser(app);
  const client = await registerApp(app, pat);
  const page = await browser.get(authorizePath({ client_id: client.application_id, redirect_uri: REDIRECT, response_type: 'code', state: 'st8' }));
  const denied = await browser.post('/oauth/authorize', formFields(page, 1));
  t.is(denied.status, 302);
  t.is(denied.location, `${REDIRECT}?error=access_denied&error_description=The+resource+owner+or+authorization+server+denied+the+request.&state=st8`);
  t.is(await grants(client.id), 0);
  // DELETE /oauth/authorize answers the same.
  const viaDelete = await browser.request('DELETE', '/oauth/authorize', { ...formFields(page, 0) });
  t.is(viaDelete.status, 302);
  t.regex(viaDelete.location!, /error=access_denied/);
});

test('GET errors are 200 HTML pages with the description in a <pre>, in Doorkeeper\'s order, never redirects', async (t) => {
  const { browser, pat } = await signedInUser(app);
  const client = await registerApp(app, pat);
  const id = client.application_id;
  const cases: Array<[Record<string, string | undefined>, string]> = [
    [{ redirect_uri: REDIRECT, response_type: 'code' }, missing('client_id')],
    [{ client_id: 'unknown', redirect_uri: REDIRECT, response_type: 'code' }, DESCRIPTIONS.invalid_client],
    [{ client_id: id, response_type: 'code' }, DESCRIPTIONS.invalid_redirect_uri],
    [{ client_id: id, redirect_uri: 'https://evil.example.com/callback', response_type: 'code' }, DESCRIPTIONS.invalid_redirect_uri],
    [{ client_id: id, redirect_uri: REDIRECT }, missing('response_type')],
    [{ client_id: id, redirect_uri: REDIRECT, response_type: 'token' }, DESCRIPTIONS.unsupported_response_type],
    [{ client_id: id, redirect_uri: REDIRECT, response_type: 'code', scope: 'sudo' }, DESCRIPTIONS.invalid_scope],
    [{ client_id: id, redirect_uri: REDIRECT, response_type: 'code', scope: 'api\tread_user' }, DESCRIPTIONS.invalid_scope],
    [{ client_id: id, redirect_uri: REDIRECT, response_type: 'code', code_challenge: 'x' }, DESCRIPTIONS.invalid_code_challenge_method],
    [{ client_id: id, redirect_uri: REDIRECT, response_type: 'code', code_challenge: 'x', code_challenge_method: 'S512' }, DESCRIPTIONS.invalid_code_challenge_method],
  ];
  for (const [params, description] of cases) {
    const page = await browser.get(authorizePath(params));
    t.is(page.status, 200, description);
    t.is(page.headers.get('content-type'), 'text/html; charset=utf-8');
    t.true(page.text.includes(`<pre id="error-description">${description}</pre>`), `${JSON.stringify(params)} → ${page.text.slice(0, 400)}`);
  }
  t.is(await grants(client.id), 0);
});

test('POST errors: redirectable ones go back to the client with error, description and state; unknown client and bad redirect URI are JSON', async (t) => {
  const { browser, pat } = await signedInUser(app);
  const client = await registerApp(app, pat);
  const page = await browser.get(authorizePath({ client_id: client.application_id, redirect_uri: REDIRECT, response_type: 'code', state: 'q' }));
  const fields = formFields(page, 0);
  const badScope = await browser.post('/oauth/authorize', { ...fields, scope: 'sudo' });
  t.is(badScope.status, 302);
  t.is(badScope.location, `${REDIRECT}?error=invalid_scope&error_description=The+requested+scope+is+invalid%2C+unknown%2C+or+malformed.&state=q`);
  const unknown = await browser.post('/oauth/authorize', { ...fields, client_id: 'nope' });
  t.is(unknown.status, 401);
  t.deepEqual(unknown.json, { error: 'invalid_client', error_description: DESCRIPTIONS.invalid_client });
  const badRedirect = await browser.post('/oauth/authorize', { ...fields, redirect_uri: 'https://evil.example.com/' });
  t.is(badRedirect.status, 400);
  t.deepEqual(badRedirect.json, { error: 'invalid_redirect_uri', error_description: DESCRIPTIONS.invalid_redirect_uri });
  const noCsrf = await browser.post('/oauth/authorize', { ...fields, authenticity_token: 'forged' });
  t.is(noCsrf.status, 422);
  t.is(await grants(client.id), 0);
});

test('redirect URIs: loopback IP literals match on any port (RFC 8252), localhost and other hosts do not; registered query pairs in any order', async (t) => {
  const { browser, pat } = await signedInUser(app);
  const client = await registerApp(app, pat, { redirect_uri: 'http://127.0.0.1/cb\nhttp://[::1]:8000/\nhttp://localhost:7171/auth/redirect\nhttps://a.example/cb?x=1&y=2', confidential: false });
  const challenge = pkce().challenge;
  const check = async (redirect: string) => {
    const page = await browser.get(authorizePath({ client_id: client.application_id, redirect_uri: redirect, response_type: 'code', code_challenge: challenge, code_challenge_method: 'S256' }));
    return !page.text.includes(DESCRIPTIONS.invalid_redirect_uri);
  };
  t.true(await check('http://127.0.0.1:49152/cb'));
  t.true(await check('http://127.0.0.1/cb'));
  t.true(await check('http://[::1]:9/'));
  t.true(await check('http://localhost:7171/auth/redirect'));
  t.false(await check('http://localhost:7172/auth/redirect'), 'localhost keeps its port');
  t.false(await check('http://127.0.0.1:49152/other'));
  t.true(await check('https://a.example/cb?y=2&x=1'));
  t.false(await check('https://a.example/cb?x=1'));
  t.false(await check('https://a.example/cb?x=1&y=2#frag'));
});

test('public clients must use PKCE; trusted applications skip consent with a Redirecting page; confidential ones already authorized for the same scopes too', async (t) => {
  const { browser, pat } = await signedInUser(app);
  const publicClient = await registerApp(app, pat, { confidential: false });
  const page = await browser.get(authorizePath({ client_id: publicClient.application_id, redirect_uri: REDIRECT, response_type: 'code' }));
  t.true(page.text.includes(`<pre id="error-description">${missing('code_challenge')}</pre>`));

  const trusted = await registerInstanceApp(app, { trusted: true });
  t.true(trusted.trusted);
  const skipped = await browser.get(authorizePath({ client_id: trusted.application_id, redirect_uri: REDIRECT, response_type: 'code', scope: 'api', state: 'tt' }));
  t.is(skipped.status, 200);
  t.regex(skipped.text, /<title>Redirecting<\/title>/);
  t.regex(skipped.text, /Click here to redirect to https:\/\/client\.example\.com\/callback/);
  t.regex(skipped.text, /<meta http-equiv="refresh" content="0; url=https:\/\/client\.example\.com\/callback\?code=[0-9a-f]{64}&amp;state=tt">/);
  t.notRegex(skipped.text, /<script/i);
  const forced = await browser.get(authorizePath({ client_id: trusted.application_id, redirect_uri: REDIRECT, response_type: 'code', scope: 'api', prompt: 'consent' }));
  t.regex(forced.text, /Authorize Instance app/, 'prompt=consent shows the page anyway');

  const confidential = await registerApp(app, pat);
  const { code } = await authorize(browser, confidential, { scope: 'api' });
  const exchanged = await fetch(`${app.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: confidential.application_id, client_secret: confidential.secret }),
  });
  t.is(exchanged.status, 200);
  const again = await browser.get(authorizePath({ client_id: confidential.application_id, redirect_uri: REDIRECT, response_type: 'code', scope: 'api' }));
  t.regex(again.text, /<title>Redirecting<\/title>/, 'same scopes: no consent');
  const wider = await browser.get(authorizePath({ client_id: confidential.application_id, redirect_uri: REDIRECT, response_type: 'code', scope: 'api read_user' }));
  t.regex(wider.text, /Authorize Review app/, 'other scopes: consent again');
});

test('trusted is an admin flag: POST and PUT /api/v4/applications set it; user applications ignore it; device_code_enabled defaults to false', async (t) => {
  const { pat } = await signedInUser(app);
  const own = await registerApp(app, pat, { trusted: true, device_code_enabled: true });
  t.false(own.trusted);
  t.true(own.device_code_enabled);
  const instance = await registerInstanceApp(app);
  t.false(instance.trusted);
  t.false(instance.device_code_enabled);
  const updated = await app.request(`/api/v4/applications/${instance.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { trusted: true, device_code_enabled: true } });
  t.is(updated.status, 200);
  t.like(updated.body, { id: instance.id, trusted: true, device_code_enabled: true });
  t.is((await app.request(`/api/v4/applications/${instance.id}`, { method: 'PUT', token: pat, body: { trusted: true } })).status, 403);
  t.is((await app.request(`/api/v4/applications/${own.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { trusted: true } })).status, 404);
  const ownUpdate = await app.request(`/api/v4/user/applications/${own.id}`, { method: 'PUT', token: pat, body: { device_code_enabled: false, trusted: true } });
  t.like(ownUpdate.body, { trusted: false, device_code_enabled: false });
  void Browser;
});

test('OpenID prompt: none answers login_required or consent_required by redirect; login signs the user in again and comes back without it', async (t) => {
  const { browser, pat, user } = await signedInUser(app);
  const client = await registerApp(app, pat);
  const request = { client_id: client.application_id, redirect_uri: REDIRECT, response_type: 'code', scope: 'openid', state: 'p1' };
  const anonymous = await new Browser(app.url).get(authorizePath({ ...request, prompt: 'none' }));
  t.is(anonymous.status, 302);
  t.is(anonymous.location, `${REDIRECT}?error=login_required&error_description=The+authorization+server+requires+end-user+authentication.&state=p1`);
  const noConsent = await browser.get(authorizePath({ ...request, prompt: 'none' }));
  t.is(noConsent.location, `${REDIRECT}?error=consent_required&error_description=The+authorization+server+requires+end-user+consent.&state=p1`);
  const login = await browser.get(authorizePath({ ...request, prompt: 'login' }));
  t.deepEqual([login.status, login.location], [302, '/users/sign_in']);
  t.is(await app.db('oauth_sessions').where({ user_id: user.id }).first(), undefined, 'the old session ended');
  const back = await browser.signIn(user.username);
  t.is(back.location, authorizePath(request));
  t.is((await browser.get(back.location!)).status, 200);
});
