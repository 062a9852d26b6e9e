import test from 'ava';
import { startTestApp } from '../helpers/app.js';
import { FakeAiGateway } from '../helpers/fake-ai-gateway.js';
import { issueTokens, registerApp, signedInUser } from '../plugins/oauth-provider/_support.js';

/**
 * The GitLab Language Server's OAuth path (the editor extensions sign in with OAuth): a token longer
 * than 41 characters is checked with `GET /oauth/token/info`, whose `scope` array must include `api`
 * (`/personal_access_tokens/self`, asked in parallel, refuses OAuth tokens), then used on Code Suggestions.
 */

const LS_VERSION = '8.54.0';
const headers = (token: string, post = false): Record<string, string> => ({
  Authorization: `Bearer ${token}`,
  'User-Agent': `gitlab-language-server:${LS_VERSION} (vscode:1.96.0)`,
  'X-Gitlab-Language-Server-Version': LS_VERSION,
  Accept: '*/*',
  ...(post ? { 'Content-Type': 'application/json' } : {}),
});

test('Language Server with an OAuth token: /oauth/token/info says api, then completions go through gatehouse', async (t) => {
  const fake = await FakeAiGateway.start();
  const app = await startTestApp({ config: { plugins: { 'code-suggestions': { aiGatewayUrl: fake.url } } } });
  t.teardown(async () => {
    await app.close();
    await fake.close();
  });
  const { browser, pat, user } = await signedInUser(app);
  // What the editor extensions register: a public client with their custom-scheme redirect.
  const client = await registerApp(app, pat, { scopes: 'api', redirect_uri: 'https://client.example.com/callback' });
  const { access_token: token } = await issueTokens(app, browser, client, 'api');
  t.true(token.length > 41, 'the LS tells OAuth tokens from PATs by their length');

  const [info, self] = await Promise.all([
    fetch(`${app.url}/oauth/token/info`, { headers: headers(token) }).then(async (r) => ({ status: r.status, body: await r.json() })),
    fetch(`${app.url}/api/v4/personal_access_tokens/self`, { headers: headers(token) }).then((r) => r.status),
  ]);
  t.is(info.status, 200);
  t.true(info.body.scope.includes('api'));
  t.is(info.body.resource_owner_id, user.id);
  t.is(self, 400, 'OAuth tokens are refused there; the LS accepts either answer');

  const version = await fetch(`${app.url}/api/v4/version`, { headers: headers(token) }).then((r) => r.json());
  t.regex(version.version, /^\d+\.\d+\.\d+/);
  const completion = await fetch(`${app.url}/api/v4/code_suggestions/completions`, {
    method: 'POST',
    headers: headers(token, true),
    body: JSON.stringify({ prompt_version: 1, project_path: '', project_id: -1, current_file: { content_above_cursor: 'def add(a, b):\n    ', content_below_cursor: '', file_name: 'main.py' }, choices_count: 1 }),
  });
  t.is(completion.status, 200);
  t.is((await completion.json()).choices[0].text, 'return a + b');
  t.false(JSON.stringify(fake.requests.at(-1)!.headers).includes(token), 'the OAuth token stays with gatehouse');
});
