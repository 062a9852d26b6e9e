import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { Browser, formFields, registerApp, signedInUser } from '../plugins/oauth-provider/_support.js';

/**
 * golang.org/x/oauth2, the library glab and git-credential-oauth use (Debian's
 * golang-golang-x-oauth2-dev, built offline in GOPATH mode), signs in through gatehouse the way those
 * tools do: glab's public client with its fixed `http://localhost:7171/auth/redirect`, and
 * git-credential-oauth's `http://127.0.0.1:<random port>` against a registered `http://127.0.0.1`.
 * PKCE S256, a state, Basic authentication with an empty secret, then a refresh by the library.
 */

const GOPATH = '/usr/share/gocode';
const SOURCE = join(import.meta.dirname, 'go-oauth2', 'main.go');
const run = promisify(execFile);

const available = existsSync(join(GOPATH, 'src/golang.org/x/oauth2/oauth2.go'));

if (!available) {
  test.skip('x/oauth2 tests skipped: needs Go and golang.org/x/oauth2 (apt-get install golang-go golang-golang-x-oauth2-dev)', () => {});
} else {
  let app: TestApp;
  let workDir: string;
  let binary: string;
  test.before(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'gatehouse-go-oauth2-'));
    binary = join(workDir, 'scenario');
    await run('go', ['build', '-o', binary, SOURCE], {
      cwd: join(import.meta.dirname, 'go-oauth2'),
      env: { PATH: process.env.PATH, HOME: workDir, GOPATH, GO111MODULE: 'off', GOFLAGS: '', GOCACHE: join(workDir, 'cache') },
      timeout: 180_000,
    });
    app = await startTestApp({ ownExternalUrl: true });
    // The library compares expiry with the wall clock.
    app.clock.set(new Date());
  });
  test.after.always(async () => {
    await app?.close();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  async function consent(browser: Browser, url: string): Promise<string> {
    const page = await browser.get(url.replace(app.url, ''));
    if (page.status !== 200) throw new Error(`authorize: ${page.status} ${page.text.slice(0, 300)}`);
    const approved = await browser.post('/oauth/authorize', formFields(page, 0));
    if (approved.status !== 302) throw new Error(`approve: ${approved.status} ${approved.text.slice(0, 300)}`);
    return approved.location!;
  }

  test('x/oauth2 signs in as glab and as git-credential-oauth do (public clients, PKCE, Basic with an empty secret) and refreshes', async (t) => {
    const { user, pat, browser } = await signedInUser(app);
    const scopes = 'openid profile read_user write_repository api';
    const glab = await registerApp(app, pat, { confidential: false, redirect_uri: 'http://localhost:7171/auth/redirect', scopes });
    const gitCredential = await registerApp(app, pat, { confidential: false, redirect_uri: 'http://127.0.0.1', scopes });
    const child = spawn(binary, ['glab', glab.application_id, 'http://localhost:7171/auth/redirect', 'git-credential-oauth', gitCredential.application_id, 'http://127.0.0.1:43123'], {
      env: { GATEHOUSE_URL: app.url, PATH: process.env.PATH },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    let results: unknown;
    for await (const line of createInterface({ input: child.stdout })) {
      const message = JSON.parse(line);
      if (message.authorize) child.stdin.write(`${JSON.stringify({ redirected_to: await consent(browser, message.authorize) })}\n`);
      if (message.results) results = message.results;
    }
    await new Promise((resolve) => child.once('close', resolve));
    t.truthy(results, stderr);
    const expected = (client: string) => ({
      client,
      token_type: 'Bearer',
      has_refresh: true,
      expires_in_future: true,
      user: user.username,
      refreshed: true,
      user_after_refresh: user.username,
      old_token_afterward: 401,
    });
    t.deepEqual(results, [expected('glab'), expected('git-credential-oauth')]);
  });
}
