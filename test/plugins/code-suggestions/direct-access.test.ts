import test from 'ava';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { EXTERNAL_URL, ROOT_TOKEN, startTestApp } from '../../helpers/app.js';
import {
  AI_SCOPES,
  CONNECTION_DETAILS,
  DIRECT_ACCESS,
  DIRECT_CONNECTIONS_DISABLED,
  ENABLED,
  FORBIDDEN,
  NOT_FOUND,
  NOW_S,
  ORIGIN_HEADER,
  UNAUTHORIZED,
  decodeJwt,
  disableForUser,
  insufficientScope,
  post,
  startCsApp,
  userWithToken,
  type CsApp,
} from './_support.js';

let cs: CsApp;
test.before(async () => {
  cs = await startCsApp({ pluginConfig: { directConnections: { baseUrl: 'https://ai-gateway.example.com/' } } });
});
test.after.always(async () => {
  await cs?.close();
});

const ROUTES = [DIRECT_ACCESS, ENABLED, CONNECTION_DETAILS];

// --- the gate shared by the three routes ----------------------------------------------------------------

test('direct_access, enabled, connection_details: 401 without credentials, 403 for read_api, with the origin header', async (t) => {
  const { plaintext } = await userWithToken(cs.app, ['read_api']);
  for (const path of ROUTES) {
    const anonymous = await post(cs.app, path, { body: { project_path: '' } });
    t.is(anonymous.status, 401, path);
    t.deepEqual(anonymous.body, UNAUTHORIZED);
    t.is(anonymous.headers.get(ORIGIN_HEADER), 'monolith');
    const readApi = await post(cs.app, path, { token: plaintext, body: { project_path: '' } });
    t.is(readApi.status, 403, path);
    t.deepEqual(readApi.body, insufficientScope(AI_SCOPES));
    t.is(readApi.headers.get(ORIGIN_HEADER), 'monolith');
  }
});

test('direct_access, enabled, connection_details: Code Suggestions off for the user → 401', async (t) => {
  const { user, plaintext } = await userWithToken(cs.app);
  await disableForUser(cs.app, user.id, ROOT_TOKEN);
  for (const path of ROUTES) {
    const response = await post(cs.app, path, { token: plaintext, body: { project_path: `${user.username}/p` } });
    t.is(response.status, 401, path);
    t.deepEqual(response.body, UNAUTHORIZED);
    t.is(response.headers.get(ORIGIN_HEADER), 'monolith');
  }
});

test('direct_access, enabled, connection_details: ai_duo_code_suggestions_switch off → 404', async (t) => {
  const app = await startTestApp({ flags: { ai_duo_code_suggestions_switch: false } });
  try {
    const { plaintext } = await userWithToken(app);
    for (const path of ROUTES) {
      const response = await post(app, path, { token: plaintext, body: { project_path: '' } });
      t.is(response.status, 404, path);
      t.deepEqual(response.body, NOT_FOUND);
      t.is(response.headers.get(ORIGIN_HEADER), 'monolith');
    }
  } finally {
    await app.close();
  }
});

// --- POST /code_suggestions/direct_access ------------------------------------------------------------------

test('direct_access: 201 with base_url, a JWT the AI gateway verifies against our JWKS, expires_at and the identity headers', async (t) => {
  const { user, plaintext } = await userWithToken(cs.app, ['ai_features']);
  const response = await post(cs.app, DIRECT_ACCESS, { token: plaintext, body: { project_path: '' } });
  t.is(response.status, 201);
  const service = cs.app.services['code-suggestions'].service;
  const namespace = await cs.app.db('directory_namespaces').where({ kind: 'user', owner_id: user.id }).first();
  t.deepEqual(response.body, {
    base_url: 'https://ai-gateway.example.com',
    token: response.body.token,
    expires_at: NOW_S + 3600,
    headers: {
      'x-gitlab-global-user-id': service.globalUserId(user.id),
      'x-gitlab-user-id': String(user.id),
      'x-gitlab-instance-id': service.instanceId,
      'x-gitlab-host-name': 'gatehouse.test',
      'x-gitlab-realm': 'self-managed',
      'x-gitlab-deployment-type': 'self-managed',
      'x-gitlab-version': '17.11.0',
      'X-Gitlab-Authentication-Type': 'oidc',
      'x-gitlab-subject-type': 'human',
      'x-gitlab-feature-enablement-type': 'duo_pro',
      'x-gitlab-enabled-feature-flags': 'code_suggestions_context',
      'x-gitlab-enabled-instance-verbose-ai-logs': 'false',
      'X-Gitlab-Model-Prompt-Cache-Enabled': 'true',
      'X-Gitlab-Is-Team-Member': 'false',
      'x-gitlab-feature-enabled-by-namespace-ids': String(namespace.id),
      'x-gitlab-unit-primitive': 'complete_code',
    },
  });
  t.false('model_details' in response.body, 'no model configured: no model_details');
  const { payload } = await jwtVerify(response.body.token, createRemoteJWKSet(new URL(`${cs.app.url}/oauth/discovery/keys`)), {
    issuer: EXTERNAL_URL,
    audience: 'gitlab-ai-gateway',
    currentDate: new Date(NOW_S * 1000),
  });
  t.like(payload, { sub: service.globalUserId(user.id), exp: NOW_S + 3600, scopes: ['code_suggestions'] });
});

test('direct_access: the Language Server\'s camelCase projectPath probe and an empty body succeed', async (t) => {
  const { plaintext } = await userWithToken(cs.app);
  for (const body of [{ projectPath: '' }, {}, { project_path: 'some/where' }]) {
    const response = await post(cs.app, DIRECT_ACCESS, { token: plaintext, body });
    t.is(response.status, 201, JSON.stringify(body));
    t.is(decodeJwt(response.body.token).payload.aud, 'gitlab-ai-gateway');
  }
});

test('direct_access: project_path of the wrong type → 400', async (t) => {
  const { plaintext } = await userWithToken(cs.app);
  const response = await post(cs.app, DIRECT_ACCESS, { token: plaintext, body: { project_path: { a: 1 } } });
  t.is(response.status, 400);
  t.deepEqual(response.body, { error: 'project_path is invalid' });
  t.is(response.headers.get(ORIGIN_HEADER), 'monolith');
});

test('direct_access: model_details when a model is configured; base_url defaults to aiGatewayUrl', async (t) => {
  const app = await startCsApp({ pluginConfig: { directConnections: { modelProvider: 'fireworks_ai', modelName: 'codestral' } } });
  try {
    const { plaintext } = await userWithToken(app.app);
    const response = await post(app.app, DIRECT_ACCESS, { token: plaintext, body: { project_path: '' } });
    t.is(response.status, 201);
    t.is(response.body.base_url, app.fake.url);
    t.deepEqual(response.body.model_details, { model_provider: 'fireworks_ai', model_name: 'codestral' });
    t.deepEqual(Object.keys(response.body), ['base_url', 'token', 'expires_at', 'headers', 'model_details']);
  } finally {
    await app.close();
  }
});

test('direct_access: direct connections disabled → 403 "Direct connections are disabled", never a 429', async (t) => {
  const app = await startTestApp({ redis: false, config: { plugins: { 'code-suggestions': { directAccessRateLimit: 2, directConnections: { enabled: false } } } } });
  try {
    const { plaintext } = await userWithToken(app);
    // Past the configured limit the answer stays the same: GitLab refuses before it counts.
    for (let i = 0; i < 4; i++) {
      const response = await post(app, DIRECT_ACCESS, { token: plaintext, body: { project_path: '' } });
      t.is(response.status, 403);
      t.deepEqual(response.body, DIRECT_CONNECTIONS_DISABLED);
      t.is(response.headers.get(ORIGIN_HEADER), 'monolith');
    }
  } finally {
    await app.close();
  }
});

// --- POST /code_suggestions/enabled ---------------------------------------------------------------------------

async function projectIn(namespaceToken: string, body: Record<string, unknown>) {
  const response = await cs.app.request('/api/v4/projects', { method: 'POST', token: namespaceToken, body });
  if (response.status !== 201) throw new Error(`POST /projects answered ${response.status}: ${response.text}`);
  return response.body as { id: number; path_with_namespace: string; namespace: { id: number } };
}

test('enabled: project_path missing → 400 "project_path is missing"', async (t) => {
  const { plaintext } = await userWithToken(cs.app);
  const response = await post(cs.app, ENABLED, { token: plaintext, body: {} });
  t.is(response.status, 400);
  t.deepEqual(response.body, { error: 'project_path is missing' });
  t.is(response.headers.get(ORIGIN_HEADER), 'monolith');
});

test('enabled: 200 for a visible project with Code Suggestions on; 404 for empty, unknown or invisible paths', async (t) => {
  const { user, plaintext } = await userWithToken(cs.app);
  const project = await projectIn(plaintext, { name: 'Mine', path: 'mine', visibility: 'private' });
  const ok = await post(cs.app, ENABLED, { token: plaintext, body: { project_path: project.path_with_namespace } });
  t.is(ok.status, 200);
  t.is(ok.body, 200);
  const stranger = await userWithToken(cs.app);
  for (const [token, path] of [
    [plaintext, ''],
    [plaintext, `${user.username}/missing`],
    [stranger.plaintext, project.path_with_namespace],
  ]) {
    const response = await post(cs.app, ENABLED, { token, body: { project_path: path } });
    t.is(response.status, 404, path);
    t.deepEqual(response.body, NOT_FOUND);
    t.is(response.headers.get(ORIGIN_HEADER), 'monolith');
  }
});

test('enabled: a project in a group with Code Suggestions off → 403', async (t) => {
  const { user, plaintext } = await userWithToken(cs.app);
  const group = await cs.app.request('/api/v4/groups', { method: 'POST', token: ROOT_TOKEN, body: { name: `Off ${user.id}`, path: `off-${user.id}`, code_suggestions: false } });
  t.is(group.status, 201);
  await cs.app.request(`/api/v4/groups/${group.body.id}/members`, { method: 'POST', token: ROOT_TOKEN, body: { user_id: user.id, access_level: 40 } });
  const project = await projectIn(plaintext, { name: 'In Off', path: 'in-off', namespace_id: group.body.id });
  const response = await post(cs.app, ENABLED, { token: plaintext, body: { project_path: project.path_with_namespace } });
  t.is(response.status, 403);
  t.deepEqual(response.body, FORBIDDEN);
  t.is(response.headers.get(ORIGIN_HEADER), 'monolith');
});

// --- POST /code_suggestions/connection_details ------------------------------------------------------------------

test('connection_details: 201 with the instance and user identity (self-managed: no namespace ids)', async (t) => {
  const { user, plaintext } = await userWithToken(cs.app);
  const response = await post(cs.app, CONNECTION_DETAILS, { token: plaintext });
  t.is(response.status, 201);
  const service = cs.app.services['code-suggestions'].service;
  t.deepEqual(response.body, {
    instance_id: service.instanceId,
    instance_version: '17.11.0',
    realm: 'self-managed',
    global_user_id: service.globalUserId(user.id),
    host_name: 'gatehouse.test',
    feature_enablement_type: 'duo_pro',
    saas_duo_pro_namespace_ids: [],
  });
  t.regex(service.instanceId, /^[0-9a-f-]{36}$/);
});

test('connection_details: realm saas lists the namespaces that grant Code Suggestions', async (t) => {
  const app = await startTestApp({ config: { plugins: { 'code-suggestions': { realm: 'saas' } } } });
  try {
    const { user, plaintext } = await userWithToken(app);
    const namespace = await app.db('directory_namespaces').where({ kind: 'user', owner_id: user.id }).first();
    const response = await post(app, CONNECTION_DETAILS, { token: plaintext });
    t.is(response.status, 201);
    t.like(response.body, { realm: 'saas', saas_duo_pro_namespace_ids: [Number(namespace.id)] });
  } finally {
    await app.close();
  }
});
