import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { Browser, formFields, registerApp, signedInUser } from '../plugins/oauth-provider/_support.js';

/**
 * authlib and requests-oauthlib, the real libraries (Debian's python3-authlib and
 * python3-requests-oauthlib), run the authorization code flow against gatehouse's discovery document:
 * test/clients/oauth/scenario.py asks for the browser step, which a signed-in browser (forms posted
 * with the session cookie) performs here, then refreshes, calls /api/v4/user and /oauth/userinfo, and revokes.
 */

const PYTHON = '/usr/bin/python3';
const SCENARIO = join(import.meta.dirname, 'oauth', 'scenario.py');
const REDIRECT = 'http://127.0.0.1:8765/callback';

function available(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import authlib, requests_oauthlib'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

if (!available()) {
  test.skip(`OAuth client library tests skipped: ${PYTHON} cannot import authlib and requests_oauthlib (apt-get install python3-authlib python3-requests-oauthlib)`, () => {});
} else {
  let app: TestApp;
  test.before(async () => {
    // Discovery must name the URL the libraries reach; ID tokens are checked against the real clock.
    app = await startTestApp({ ownExternalUrl: true });
    app.clock.set(new Date());
  });
  test.after.always(async () => {
    await app?.close();
  });

  /** The browser step: the consent page, Authorize, and the redirect's URL. */
  async function consent(browser: Browser, url: string): Promise<string> {
    const page = await browser.get(url.replace(app.url, ''));
    if (page.status !== 200) throw new Error(`authorize: ${page.status} ${page.text.slice(0, 300)}`);
    const approved = await browser.post('/oauth/authorize', formFields(page, 0));
    if (approved.status !== 302) throw new Error(`approve: ${approved.status} ${approved.text.slice(0, 300)}`);
    return approved.location!;
  }

  test('authlib (PKCE, OpenID Connect) and requests-oauthlib sign a user in through discovery, call the API, refresh and revoke', async (t) => {
    const { user, pat, browser } = await signedInUser(app);
    const publicClient = await registerApp(app, pat, { confidential: false, redirect_uri: REDIRECT });
    const confidential = await registerApp(app, pat, { redirect_uri: REDIRECT, scopes: 'read_user' });
    const child = spawn(PYTHON, [SCENARIO, app.url, publicClient.application_id, confidential.application_id, confidential.secret, REDIRECT], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, AUTHLIB_INSECURE_TRANSPORT: '1', OAUTHLIB_INSECURE_TRANSPORT: '1', NO_PROXY: '127.0.0.1' },
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    let results: Record<string, any> | undefined;
    for await (const line of createInterface({ input: child.stdout })) {
      const message = JSON.parse(line);
      if (message.authorize) child.stdin.write(`${JSON.stringify({ redirected_to: await consent(browser, message.authorize) })}\n`);
      if (message.results) results = message.results;
    }
    await new Promise((resolve) => child.once('close', resolve));
    t.truthy(results, stderr);
    t.deepEqual(results, {
      issuer: app.url,
      authlib_token_keys: ['access_token', 'created_at', 'expires_at', 'expires_in', 'id_token', 'refresh_token', 'scope', 'token_type'],
      authlib_scope: 'openid profile email api read_user',
      id_token: { sub: String(user.id), nonce_matches: true, preferred_username: user.username },
      authlib_user: user.username,
      authlib_userinfo: user.username,
      authlib_refreshed: true,
      old_token_after_refresh: 401,
      authlib_user_after_refresh: 200,
      authlib_revoke_status: 200,
      after_revoke: 401,
      oauthlib_token_type: 'Bearer',
      oauthlib_user: user.username,
      oauthlib_refreshed: true,
      oauthlib_user_after_refresh: user.username,
    });
  });
}
