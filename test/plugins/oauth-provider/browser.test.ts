import test from 'ava';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import puppeteer, { type Browser as Chromium, type Page } from 'puppeteer-core';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { INVALID_LOGIN, PASSWORD, authorizePath, registerApp, tokenRequest } from './_support.js';

/**
 * The web pages in a real headless Chromium (Debian's `chromium`, driven by puppeteer-core): sign in,
 * consent, deny, lockout, a CSRF refusal and device code entry, with the pages' CSP and framing
 * headers enforced by the browser itself. The client's callback is a local server on a loopback IP
 * whose port the application did not register (RFC 8252).
 */

const CHROMIUM = '/usr/bin/chromium';

if (!existsSync(CHROMIUM)) {
  test.skip(`browser tests skipped: ${CHROMIUM} is missing (apt-get install chromium)`, () => {});
} else {
  let app: TestApp;
  let chromium: Chromium;
  let callback: Server;
  let callbackUrl: string;
  const received: URL[] = [];
  /** Content-Security-Policy violations the browser reported: a page breaking its own policy would show here. */
  const consoleErrors: string[] = [];

  test.before(async () => {
    app = await startTestApp({ ownExternalUrl: true });
    callback = createServer((req, res) => {
      const url = new URL(req.url!, callbackUrl);
      if (url.pathname === '/callback') received.push(url);
      res.setHeader('content-type', 'text/html');
      res.end('<!DOCTYPE html><title>Client callback</title><p>callback reached</p>');
    });
    await new Promise<void>((resolve) => callback.listen(0, '127.0.0.1', resolve));
    callbackUrl = `http://127.0.0.1:${(callback.address() as AddressInfo).port}/callback`;
    chromium = await puppeteer.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
  });
  test.after.always(async () => {
    await chromium?.close();
    callback?.closeAllConnections();
    await new Promise((resolve) => callback?.close(resolve));
    await app?.close();
  });

  async function newPage(t: { teardown(fn: () => unknown): void }): Promise<Page> {
    const context = await chromium.createBrowserContext();
    t.teardown(() => context.close());
    const page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error' && /Content Security Policy|Refused to/i.test(message.text())) consoleErrors.push(message.text());
    });
    return page;
  }

  async function signIn(page: Page, login: string, password = PASSWORD) {
    // A failed attempt re-renders the form with the login filled in.
    await page.$eval('#user_login', (input) => ((input as HTMLInputElement).value = ''));
    await page.type('#user_login', login);
    await page.type('#user_password', password);
    await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  }

  const text = (page: Page) => page.$eval('body', (body) => body.textContent ?? '');

  async function userWithApp() {
    const { user, plaintext } = await createUserWithToken(app);
    // Registered without a port: the callback server's port is accepted as a loopback redirect.
    const client = await registerApp(app, plaintext, { redirect_uri: 'http://127.0.0.1/callback', scopes: 'api read_user' });
    return { user, client };
  }

  test.serial('sign in, consent and Authorize: the client receives a code that buys a token for the API', async (t) => {
    const { user, client } = await userWithApp();
    const page = await newPage(t);
    const response = await page.goto(`${app.url}${authorizePath({ client_id: client.application_id, redirect_uri: callbackUrl, response_type: 'code', scope: 'api read_user', state: 'browser-state' })}`);
    t.is(new URL(page.url()).pathname, '/users/sign_in');
    t.is(response!.headers()['x-frame-options'], 'DENY');
    await signIn(page, user.username);
    t.is(new URL(page.url()).pathname, '/oauth/authorize', 'back to the authorization request');
    const consent = await text(page);
    t.regex(consent, /Review app is requesting access|requesting access to your account/);
    t.regex(consent, /api: Grants complete read\/write access to the API/);
    t.regex(consent, /read_user: Grants read-only access to your profile/);
    t.is(await page.$eval('label[for="user_login"]', () => true).catch(() => false), false, 'the sign-in form is gone');
    await Promise.all([page.waitForNavigation(), page.click('button:not([name])')]);
    const reached = received.at(-1)!;
    t.is(reached.pathname, '/callback');
    t.is(reached.searchParams.get('state'), 'browser-state');
    const code = reached.searchParams.get('code')!;
    t.regex(code, /^[0-9a-f]{64}$/);
    const token = await tokenRequest(app, { grant_type: 'authorization_code', code, redirect_uri: callbackUrl, client_id: client.application_id, client_secret: client.secret });
    t.is(token.status, 200, token.text);
    t.is((await app.request('/api/v4/user', { token: token.body.access_token, auth: 'bearer' })).body.username, user.username);
    t.deepEqual(consoleErrors, []);
  });

  test.serial('Deny sends the browser back with access_denied', async (t) => {
    const { user, client } = await userWithApp();
    const page = await newPage(t);
    await page.goto(`${app.url}${authorizePath({ client_id: client.application_id, redirect_uri: callbackUrl, response_type: 'code', state: 'd1' })}`);
    await signIn(page, user.username);
    const [deny] = await page.$$('form button');
    const buttons = await page.$$eval('form button', (all) => all.map((b) => b.textContent));
    t.deepEqual(buttons, ['Authorize Review app', 'Deny']);
    void deny;
    await Promise.all([page.waitForNavigation(), page.click('form:nth-of-type(2) button')]);
    const reached = received.at(-1)!;
    t.is(reached.searchParams.get('error'), 'access_denied');
    t.is(reached.searchParams.get('error_description'), 'The resource owner or authorization server denied the request.');
    t.is(reached.searchParams.get('state'), 'd1');
    t.is(await app.db('oauth_access_grants').where({ application_id: client.id }).first(), undefined);
  });

  test.serial('ten wrong passwords lock the account: the right one then shows "Invalid login or password."', async (t) => {
    const { user } = await createUserWithToken(app);
    const page = await newPage(t);
    await page.goto(`${app.url}/users/sign_in`);
    for (let i = 0; i < 10; i++) {
      await signIn(page, user.username, `wrong-${i}-password`);
      t.true((await text(page)).includes(INVALID_LOGIN));
    }
    await signIn(page, user.username);
    t.true((await text(page)).includes(INVALID_LOGIN));
    t.is(new URL(page.url()).pathname, '/users/sign_in');
    const lock = await app.db('oauth_sign_in_lockouts').where({ user_id: user.id }).first();
    t.is(Number(lock.failed_attempts), 10);
    t.truthy(lock.locked_at);
    app.clock.advance(10 * 60_000);
    await signIn(page, user.username);
    t.regex(await text(page), new RegExp(`signed in as ${user.username}`));
  });

  test.serial('a form whose CSRF token was tampered with is refused (422) and changes nothing', async (t) => {
    const { user, client } = await userWithApp();
    const page = await newPage(t);
    await page.goto(`${app.url}${authorizePath({ client_id: client.application_id, redirect_uri: callbackUrl, response_type: 'code' })}`);
    await signIn(page, user.username);
    await page.$$eval('input[name="authenticity_token"]', (inputs) => inputs.forEach((input) => ((input as HTMLInputElement).value = 'forged')));
    const [response] = await Promise.all([page.waitForNavigation(), page.click('form:nth-of-type(1) button')]);
    t.is(response!.status(), 422);
    t.regex(await text(page), /The change you requested was rejected\./);
    t.is(await app.db('oauth_access_grants').where({ application_id: client.id }).first(), undefined);
  });

  test.serial('device code entry: the user types the code, authorizes, and the polling device gets its token', async (t) => {
    const { user } = await createUserWithToken(app);
    const { plaintext } = await createUserWithToken(app);
    const client = await registerApp(app, plaintext, { confidential: false, device_code_enabled: true, scopes: 'read_user' });
    const started = await fetch(`${app.url}/oauth/authorize_device`, { method: 'POST', body: new URLSearchParams({ client_id: client.application_id, scope: 'read_user' }) }).then((r) => r.json());
    const page = await newPage(t);
    await page.goto(started.verification_uri);
    await signIn(page, user.username);
    t.is(new URL(page.url()).pathname, '/oauth/device');
    await page.type('#user_code', started.user_code);
    await Promise.all([page.waitForNavigation(), page.click('form[action="/oauth/device/confirm"] button')]);
    t.regex(await text(page), /read_user: Grants read-only access to your profile/);
    await Promise.all([page.waitForNavigation(), page.click('button[value="authorize"]')]);
    t.regex(await text(page), /Device successfully authorized/);
    const token = await tokenRequest(app, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: started.device_code, client_id: client.application_id });
    t.is(token.status, 200, token.text);
    t.is((await app.request('/api/v4/user', { token: token.body.access_token, auth: 'bearer' })).body.username, user.username);
    t.deepEqual(consoleErrors, []);
  });
}
