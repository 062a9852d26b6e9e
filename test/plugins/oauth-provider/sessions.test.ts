import test from 'ava';
import { ROOT_TOKEN, startTestApp, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { BLOCKED_LOGIN, Browser, INVALID_LOGIN, PASSWORD, signedInUser } from './_support.js';

let app: TestApp;
test.before(async () => {
  app = await startTestApp({ config: { plugins: { 'oauth-provider': { signInRateLimit: 1000 } } } });
});
test.after.always(async () => {
  await app?.close();
});

const sessionsOf = async (userId: number) => Number((await app.db('oauth_sessions').where({ user_id: userId }).count({ n: '*' }).first())?.n ?? 0);

test('GET /users/sign_in renders the form with GitLab field names, a CSRF token, labels, no script, DENY framing and a strict CSP', async (t) => {
  const page = await new Browser(app.url).get('/users/sign_in');
  t.is(page.status, 200);
  t.is(page.headers.get('content-type'), 'text/html; charset=utf-8');
  t.is(page.headers.get('x-frame-options'), 'DENY');
  const csp = page.headers.get('content-security-policy')!;
  t.regex(csp, /default-src 'none'/);
  t.regex(csp, /frame-ancestors 'none'/);
  t.notRegex(csp, /unsafe-inline/);
  t.notRegex(page.text, /<script/i);
  t.regex(page.text, /<form method="post" action="\/users\/sign_in"/);
  for (const name of ['user[login]', 'user[password]', 'user[remember_me]', 'authenticity_token']) t.true(page.text.includes(`name="${name}"`), name);
  t.regex(page.text, /<label for="user_login">/);
  t.regex(page.text, /<label for="user_password">/);
  t.regex(page.text, /<meta name="csrf-token" content="[^"]+">/);
  const cookie = page.headers.getSetCookie().find((c) => c.startsWith('_gatehouse_csrf='))!;
  t.regex(cookie, /HttpOnly/);
  t.regex(cookie, /SameSite=Lax/);
  t.notRegex(cookie, /Secure/);
});

test('a correct password signs in: 302, an HttpOnly SameSite=Lax session cookie and a session row; login by email too, any case', async (t) => {
  const { user } = await createUserWithToken(app);
  const browser = new Browser(app.url);
  const response = await browser.signIn(user.username.toUpperCase());
  t.is(response.status, 302);
  t.is(response.location, '/users/sign_in');
  const cookie = response.headers.getSetCookie().find((c) => c.startsWith('_gitlab_session='))!;
  t.regex(cookie, /HttpOnly/);
  t.regex(cookie, /SameSite=Lax/);
  t.is(await sessionsOf(user.id), 1);
  const page = await browser.get('/users/sign_in');
  t.regex(page.text, new RegExp(`signed in as <strong>${user.username}</strong>`));

  const byEmail = await new Browser(app.url).signIn(user.email.toUpperCase());
  t.is(byEmail.status, 302);
  t.is(await sessionsOf(user.id), 2);
});

test('a sign-in is tracked as Devise does: the admin entity shows this sign-in, the one before, their addresses and the count', async (t) => {
  const { user } = await createUserWithToken(app);
  const shown = async () => (await app.request(`/api/v4/users/${user.id}`, { token: ROOT_TOKEN })).body;
  t.like(await shown(), { current_sign_in_at: null, last_sign_in_at: null, current_sign_in_ip: null, last_sign_in_ip: null, sign_in_count: 0 });

  t.is((await new Browser(app.url).signIn(user.username)).status, 302);
  const first = await shown();
  t.like(first, { current_sign_in_ip: '127.0.0.1', last_sign_in_ip: '127.0.0.1', sign_in_count: 1 });
  t.regex(first.current_sign_in_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  t.is(first.last_sign_in_at, first.current_sign_in_at, 'on the first sign-in, the last one is this one');

  const failed = await new Browser(app.url).signIn(user.username, 'not-the-password');
  t.is(failed.status, 200);
  t.is((await shown()).sign_in_count, 1, 'a failed attempt is no sign-in');

  t.is((await new Browser(app.url).signIn(user.username)).status, 302);
  const second = await shown();
  t.is(second.sign_in_count, 2);
  t.is(second.last_sign_in_at, first.current_sign_in_at);
  // The user's own view has the times, not the addresses.
  const own = (await app.request('/api/v4/user', { token: (await createUserWithToken(app)).plaintext })).body;
  t.false('current_sign_in_ip' in own);
  const row = await app.db('directory_users').where({ id: user.id }).first();
  t.is(Number(row.sign_in_count), 2);
});

test('a wrong password, an unknown login and a blank form all re-render the form (200) with "Invalid login or password."', async (t) => {
  const { user } = await createUserWithToken(app);
  for (const [login, password] of [[user.username, 'wrong-password'], ['nobody-here', PASSWORD], ['', '']]) {
    const response = await new Browser(app.url).signIn(login, password);
    t.is(response.status, 200, login);
    t.true(response.text.includes(INVALID_LOGIN), login);
    t.false(response.headers.getSetCookie().some((c) => c.startsWith('_gitlab_session=')));
  }
  t.is(await sessionsOf(user.id), 0);
});

test('a form without the CSRF token, or with another browser\'s, is refused with 422 and signs nobody in', async (t) => {
  const { user } = await createUserWithToken(app);
  const browser = new Browser(app.url);
  await browser.get('/users/sign_in');
  const none = await browser.post('/users/sign_in', { 'user[login]': user.username, 'user[password]': PASSWORD });
  t.is(none.status, 422);
  t.regex(none.text, /The change you requested was rejected\./);
  const other = Browser.csrf(await new Browser(app.url).get('/users/sign_in'));
  const foreign = await browser.post('/users/sign_in', { authenticity_token: other, 'user[login]': user.username, 'user[password]': PASSWORD });
  t.is(foreign.status, 422);
  t.is(await sessionsOf(user.id), 0);
});

test('10 failed attempts lock the account for 10 minutes: even the right password answers "Invalid login or password." until then', async (t) => {
  const { user } = await createUserWithToken(app);
  for (let i = 0; i < 10; i++) t.is((await new Browser(app.url).signIn(user.username, 'nope-nope')).status, 200);
  const row = await app.db('oauth_sign_in_lockouts').where({ user_id: user.id }).first();
  t.is(Number(row.failed_attempts), 10);
  t.truthy(row.locked_at);
  const locked = await new Browser(app.url).signIn(user.username);
  t.is(locked.status, 200);
  t.true(locked.text.includes(INVALID_LOGIN));
  t.is(await sessionsOf(user.id), 0);
  app.clock.advance(10 * 60_000);
  t.is((await new Browser(app.url).signIn(user.username)).status, 302);
  t.is(await app.db('oauth_sign_in_lockouts').where({ user_id: user.id }).first(), undefined);
});

test('blocked users cannot sign in, and blocking ends their sessions; deleting a user deletes them', async (t) => {
  const { user, browser } = await signedInUser(app);
  const block = await app.request(`/api/v4/users/${user.id}/block`, { method: 'POST', token: ROOT_TOKEN });
  t.is(block.status, 201, block.text);
  const page = await browser.get('/oauth/device');
  t.is(page.status, 302, 'the session no longer signs anyone in');
  t.is(await sessionsOf(user.id), 0);
  const again = await new Browser(app.url).signIn(user.username);
  t.is(again.status, 200);
  t.true(again.text.includes(BLOCKED_LOGIN));

  const other = await signedInUser(app);
  t.is(await sessionsOf(other.user.id), 1);
  t.is((await app.request(`/api/v4/users/${other.user.id}`, { method: 'DELETE', token: ROOT_TOKEN })).status, 204);
  t.is(await sessionsOf(other.user.id), 0);
});

test('POST /users/sign_out ends the session (row deleted, cookie cleared); without CSRF it is refused', async (t) => {
  const { user, browser } = await signedInUser(app);
  const page = await browser.get('/users/sign_in');
  t.is((await browser.post('/users/sign_out', {})).status, 422);
  t.is(await sessionsOf(user.id), 1);
  const out = await browser.post('/users/sign_out', { authenticity_token: Browser.csrf(page) });
  t.is(out.status, 302);
  t.is(out.location, '/users/sign_in');
  t.is(await sessionsOf(user.id), 0);
  t.false(browser.cookies.has('_gitlab_session'));
});

test('a stolen cookie stops working once the session ends; a tampered cookie signs nobody in', async (t) => {
  const { browser } = await signedInUser(app);
  const stolen = new Browser(app.url);
  stolen.cookies.set('_gitlab_session', browser.cookies.get('_gitlab_session')!);
  t.is((await stolen.get('/oauth/device')).status, 200);
  const tampered = new Browser(app.url);
  tampered.cookies.set('_gitlab_session', `${browser.cookies.get('_gitlab_session')!.slice(0, -2)}xx`);
  t.is((await tampered.get('/oauth/device')).status, 302);
  const page = await browser.get('/users/sign_in');
  await browser.post('/users/sign_out', { authenticity_token: Browser.csrf(page) });
  t.is((await stolen.get('/oauth/device')).status, 302);
});

test('anonymous /oauth/authorize goes to sign in and comes back to the same URL after signing in', async (t) => {
  const { user } = await createUserWithToken(app);
  const browser = new Browser(app.url);
  const path = '/oauth/authorize?client_id=abc&redirect_uri=https%3A%2F%2Fx.example%2Fcb&response_type=code&state=s1';
  const first = await browser.get(path);
  t.is(first.status, 302);
  t.is(first.location, '/users/sign_in');
  const signIn = await browser.signIn(user.username);
  t.is(signIn.status, 302);
  t.is(signIn.location, path);
});

test('sessions end after the idle timeout and after the absolute timeout', async (t) => {
  const local = await startTestApp({ config: { plugins: { 'oauth-provider': { sessionIdleTimeoutMinutes: 30, sessionAbsoluteTimeoutHours: 1 } } } });
  t.teardown(() => local.close());
  const idle = await signedInUser(local);
  local.clock.advance(29 * 60_000);
  t.is((await idle.browser.get('/oauth/device')).status, 200, 'activity within the idle window');
  local.clock.advance(29 * 60_000);
  t.is((await idle.browser.get('/oauth/device')).status, 200, 'the previous request renewed it');
  local.clock.advance(3 * 60_000);
  t.is((await idle.browser.get('/oauth/device')).status, 302, 'past the absolute limit, however active');
  const quiet = await signedInUser(local);
  local.clock.advance(31 * 60_000);
  t.is((await quiet.browser.get('/oauth/device')).status, 302, 'idle too long');
  t.is(Number((await local.db('oauth_sessions').where({ user_id: quiet.user.id }).count({ n: '*' }).first())?.n), 0);
});

test('sign-in attempts are rate-limited per IP (429 with GitLab\'s body); cookies are Secure with an https external URL', async (t) => {
  const local = await startTestApp({ config: { externalUrl: 'https://gatehouse.example', plugins: { 'oauth-provider': { signInRateLimit: 2 } } } });
  t.teardown(() => local.close());
  const browser = new Browser(local.url);
  const page = await browser.get('/users/sign_in');
  t.regex(page.headers.getSetCookie()[0], /; Secure/);
  const form = { authenticity_token: Browser.csrf(page), 'user[login]': 'x', 'user[password]': 'y' };
  t.is((await browser.post('/users/sign_in', form)).status, 200);
  t.is((await browser.post('/users/sign_in', form)).status, 200);
  const limited = await browser.post('/users/sign_in', form);
  t.is(limited.status, 429);
  t.deepEqual(limited.json, { message: { error: 'This endpoint has been requested too many times. Try again later.' } });
  t.is(limited.headers.get('retry-after'), '60');
});

test('concurrent failed sign-ins of one user are all counted, none answers 5xx', async (t) => {
  const { user } = await createUserWithToken(app);
  const browsers = await Promise.all(Array.from({ length: 6 }, async () => {
    const browser = new Browser(app.url);
    return { browser, csrf: Browser.csrf(await browser.get('/users/sign_in')) };
  }));
  const answers = await Promise.all(
    browsers.map(({ browser, csrf }) => browser.post('/users/sign_in', { authenticity_token: csrf, 'user[login]': user.username, 'user[password]': 'wrong-password' })),
  );
  t.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200, 200]);
  t.is(Number((await app.db('oauth_sign_in_lockouts').where({ user_id: user.id }).first()).failed_attempts), 6);
});

test('users with two-factor authentication take a second step: a recovery code, good once; wrong codes count towards the lockout', async (t) => {
  const { user } = await createUserWithToken(app);
  const users = app.services.directory.users;
  await users.update(user, { twoFactorEnabled: true });
  const [code, other] = await users.regenerateRecoveryCodes(await users.findById(user.id));
  const browser = new Browser(app.url);
  const step = await browser.signIn(user.username);
  t.is(step.status, 200);
  t.regex(step.text, /name="user\[otp_attempt\]"/);
  t.regex(step.text, /<label for="user_otp_attempt">/);
  t.false(browser.cookies.has('_gitlab_session'), 'the password alone signs nobody in');
  t.is(await sessionsOf(user.id), 0);
  const wrong = await browser.post('/users/sign_in', { authenticity_token: Browser.csrf(step), 'user[otp_attempt]': '0000000000000000' });
  t.is(wrong.status, 200);
  t.regex(wrong.text, /Invalid two-factor code\./);
  t.is(Number((await app.db('oauth_sign_in_lockouts').where({ user_id: user.id }).first()).failed_attempts), 1);
  const right = await browser.post('/users/sign_in', { authenticity_token: Browser.csrf(wrong), 'user[otp_attempt]': code.toUpperCase() });
  t.is(right.status, 302);
  t.is(await sessionsOf(user.id), 1);
  t.false(browser.cookies.has('_gatehouse_two_factor'));

  const again = new Browser(app.url);
  const second = await again.signIn(user.username);
  const reused = await again.post('/users/sign_in', { authenticity_token: Browser.csrf(second), 'user[otp_attempt]': code });
  t.regex(reused.text, /Invalid two-factor code\./, 'a recovery code is good once');
  t.is((await again.post('/users/sign_in', { authenticity_token: Browser.csrf(reused), 'user[otp_attempt]': other })).status, 302);

  const stranger = new Browser(app.url);
  const forged = await stranger.post('/users/sign_in', { authenticity_token: Browser.csrf(await stranger.get('/users/sign_in')), 'user[otp_attempt]': other });
  t.is(forged.status, 200, 'no password step, no second step');
  t.regex(forged.text, /Invalid login or password\./);
});
