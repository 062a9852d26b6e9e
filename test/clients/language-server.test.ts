import test from 'ava';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { EXTERNAL_URL, startTestApp, type TestApp } from '../helpers/app.js';
import { createUserWithToken } from '../helpers/fixtures.js';
import { COMPLETION, FakeAiGateway, answers } from '../helpers/fake-ai-gateway.js';

/**
 * Replays what the GitLab Language Server 8.54 (inside every GitLab editor extension) sends to its
 * GitLab to get code suggestions (clients.md §1), in order and with its headers, and checks every field
 * it reads: token check, version, the GraphQL queries, the direct-access probe (camelCase!), direct
 * access, then a completion — straight to the AI gateway with the direct-access answer, and through
 * gatehouse's proxy (where it falls back when direct connections are refused).
 */

const LS_VERSION = '8.54.0';
const USER_AGENT = `gitlab-language-server:${LS_VERSION} (vscode:1.96.0)`;
const NOW = new Date('2026-11-22T10:00:00.000Z');

/** The Language Server's default headers on every call; JSON content type on POSTs. */
function lsHeaders(token: string, post: boolean): Record<string, string> {
  return {
    Authorization: `Bearer ${token}`,
    'User-Agent': USER_AGENT,
    'X-Gitlab-Language-Server-Version': LS_VERSION,
    Accept: '*/*',
    ...(post ? { 'Content-Type': 'application/json' } : {}),
  };
}

async function ls(app: TestApp, token: string, method: 'GET' | 'POST', path: string, body?: unknown) {
  const response = await fetch(`${app.url}${path}`, { method, headers: lsHeaders(token, method === 'POST'), body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: text && /json/.test(response.headers.get('content-type') ?? '') ? JSON.parse(text) : text };
}

const COMPLETION_BODY = {
  prompt_version: 1,
  project_path: '',
  project_id: -1,
  current_file: { content_above_cursor: 'def add(a, b):\n    ', content_below_cursor: '', file_name: 'main.py' },
  choices_count: 1,
};

/** Steps 1–4: token check (with the parallel /oauth/token/info), version twice, the four GraphQL queries. */
async function startUp(t: import('ava').ExecutionContext, app: TestApp, token: string) {
  const [self, tokenInfo] = await Promise.all([
    ls(app, token, 'GET', '/api/v4/personal_access_tokens/self'),
    ls(app, token, 'GET', '/oauth/token/info'),
  ]);
  // Accepted when either answers with `api`: here the PAT endpoint does.
  t.is(self.status, 200);
  t.true(self.body.scopes.includes('api'));
  t.not(tokenInfo.status, 500);

  for (let i = 0; i < 2; i++) {
    const version = await ls(app, token, 'GET', '/api/v4/version');
    t.is(version.status, 200);
    t.regex(version.body.version, /^\d+\.\d+\.\d+/);
    const [major, minor] = version.body.version.split('.').map(Number);
    t.true(major > 17 || (major === 17 && minor >= 2), 'the version lets the LS try direct access (≥ 17.2.0)');
  }

  // The operation name is always the document's.
  const graphql = (query: string, variables?: Record<string, unknown>) =>
    ls(app, token, 'POST', '/api/graphql', { operationName: /^query (\w+)/.exec(query)?.[1], query, variables });
  const available = await graphql('query suggestionsAvailable { currentUser { duoCodeSuggestionsAvailable } }');
  t.is(available.status, 200);
  t.deepEqual(available.body, { data: { currentUser: { duoCodeSuggestionsAvailable: true } } });
  // Instances from 17.4 on: the flags are under metadata.
  const flags = await graphql('query featureFlagsEnabled($names: [String!]!) { metadata { featureFlags(names: $names) { enabled name } } }', {
    names: ['code_suggestions_context'],
  });
  t.deepEqual(flags.body, { data: { metadata: { featureFlags: [{ enabled: true, name: 'code_suggestions_context' }] } } });
  const user = await graphql(
    'query getUser { currentUser { id username name avatarUrl webUrl userPreferences @gl_introduced(version: "18.10.0") { duoDefaultNamespace { id fullName fullPath } } } }',
  );
  t.is(user.status, 200);
  t.regex(user.body.data.currentUser.id, /^gid:\/\/gitlab\/User\/\d+$/);
  t.is(user.body.data.currentUser.userPreferences, null, 'introduced after the version gatehouse answers as');
  const chat = await graphql('query chatAvailable { currentUser { duoChatAvailable } }');
  t.deepEqual(chat.body, { data: { currentUser: { duoChatAvailable: false } } });
}

/** Step 7b: the completion through gatehouse; the LS reads choices[].text and model.{name,engine,lang}. */
async function completeThroughProxy(t: import('ava').ExecutionContext, app: TestApp, fake: FakeAiGateway, token: string) {
  const before = fake.requests.length;
  const completion = await ls(app, token, 'POST', '/api/v4/code_suggestions/completions', COMPLETION_BODY);
  t.is(completion.status, 200);
  t.is(completion.body.choices[0].text, 'return a + b');
  t.like(completion.body.model, { name: 'code-gecko', engine: 'vertex-ai', lang: 'python' });
  const [upstream] = fake.requests.slice(before);
  t.is(upstream.path, '/v2/code/completions');
  t.is(upstream.headers['user-agent'], USER_AGENT);
  t.is(upstream.headers['x-gitlab-language-server-version'], LS_VERSION);
  t.false(String(upstream.headers.authorization).includes(token), 'the PAT stays with gatehouse');
  await jwtVerify(String(upstream.headers.authorization).slice('Bearer '.length), createRemoteJWKSet(new URL(`${app.url}/oauth/discovery/keys`)), {
    issuer: EXTERNAL_URL,
    audience: 'gitlab-ai-gateway',
    currentDate: NOW,
  });
  // Step 8: telemetry; a 404 is harmless to the LS.
  const track = await ls(app, token, 'POST', '/api/v4/usage_data/track_event', { event: 'code_suggestion_shown_in_ide', additional_properties: {} });
  t.is(track.status, 404);
}

test('Language Server: token check → version → GraphQL → direct-access probe → direct access → completions (direct and proxied)', async (t) => {
  const fake = await FakeAiGateway.start();
  const app = await startTestApp({ config: { plugins: { 'code-suggestions': { aiGatewayUrl: fake.url, directConnections: { modelProvider: 'fireworks_ai', modelName: 'codestral' } } } } });
  try {
    const { plaintext } = await createUserWithToken(app, ['api']);
    await startUp(t, app, plaintext);

    // Step 5: the usage-quota probe, camelCase; only success or failure matters.
    const probe = await ls(app, plaintext, 'POST', '/api/v4/code_suggestions/direct_access', { projectPath: '' });
    t.is(probe.status, 201);
    t.false(probe.text.includes('USAGE_QUOTA_EXCEEDED'));

    // Step 6: direct access.
    const direct = await ls(app, plaintext, 'POST', '/api/v4/code_suggestions/direct_access', { project_path: '' });
    t.is(direct.status, 201);
    const { base_url: baseUrl, token, expires_at: expiresAt, headers, model_details: model } = direct.body;
    t.is(baseUrl, fake.url);
    t.is(typeof token, 'string');
    t.true(expiresAt - NOW.getTime() / 1000 > 40, 'unix seconds, far enough ahead that the LS does not refresh at once');
    t.is(typeof headers, 'object');
    t.deepEqual(model, { model_provider: 'fireworks_ai', model_name: 'codestral' });

    // Step 7a: the LS posts to the AI gateway itself, with every direct-access header, the token, the UA.
    fake.on('direct-completion', answers.json());
    const aiGatewayHeaders = {
      ...headers,
      Authorization: `Bearer ${token}`,
      'X-Gitlab-Authentication-Type': 'oidc',
      'User-Agent': USER_AGENT,
      'X-Gitlab-Language-Server-Version': LS_VERSION,
      'Content-Type': 'application/json',
      'X-Request-Id': 'direct-completion',
    };
    const directCompletion = await fetch(`${baseUrl}/v2/completions`, {
      method: 'POST',
      headers: aiGatewayHeaders,
      body: JSON.stringify({ ...COMPLETION_BODY, ...model }),
    });
    t.is(directCompletion.status, 200);
    t.deepEqual(await directCompletion.json(), COMPLETION);
    // What the AI gateway does with it: verify the token against gatehouse's JWKS and read the identity.
    const [received] = fake.received('direct-completion');
    const { payload } = await jwtVerify(String(received.headers.authorization).slice('Bearer '.length), createRemoteJWKSet(new URL(`${app.url}/oauth/discovery/keys`)), {
      issuer: EXTERNAL_URL,
      audience: 'gitlab-ai-gateway',
      currentDate: NOW,
    });
    t.is(payload.sub, String(received.headers['x-gitlab-global-user-id']));
    for (const name of ['x-gitlab-realm', 'x-gitlab-instance-id', 'x-gitlab-global-user-id', 'x-gitlab-host-name']) t.truthy(received.headers[name], name);
    t.like(received.body, { model_provider: 'fireworks_ai', model_name: 'codestral' });

    // Step 7b: the same completion through gatehouse's proxy.
    await completeThroughProxy(t, app, fake, plaintext);
  } finally {
    await app.close();
    await fake.close();
  }
});

test('Language Server: direct connections refused with 403 → it falls back to completions through the proxy', async (t) => {
  const fake = await FakeAiGateway.start();
  const app = await startTestApp({ config: { plugins: { 'code-suggestions': { aiGatewayUrl: fake.url, directConnections: { enabled: false } } } } });
  try {
    const { plaintext } = await createUserWithToken(app, ['api']);
    await startUp(t, app, plaintext);
    for (const body of [{ projectPath: '' }, { project_path: '' }]) {
      const refused = await ls(app, plaintext, 'POST', '/api/v4/code_suggestions/direct_access', body);
      t.is(refused.status, 403);
      t.deepEqual(refused.body, { message: '403 Forbidden - Direct connections are disabled' });
    }
    await completeThroughProxy(t, app, fake, plaintext);
  } finally {
    await app.close();
    await fake.close();
  }
});
