import test from 'ava';
import { createServer as createNetServer } from 'node:net';
import { Redis } from 'ioredis';
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { startTestApp, ROOT_TOKEN, EXTERNAL_URL, TEST_REDIS_URL, TestClock, type TestApp, type RequestOptions } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { makeEd25519Key, type TestSshKey } from '../../helpers/ssh-keys.js';
import { shellHeaders, shellJwt } from '../../helpers/shell.js';
import { Accounts } from '../../../plugins/internal-api/accounts.js';
import { UNAUTHORIZED } from '../../helpers/gitlab-errors.js';

const NOW = '2026-11-22T10:00:00.000Z';
const HOST = new URL(EXTERNAL_URL).hostname;
const KEY_NOT_FOUND = { message: '404 Key Not Found' };
const KEY_UNAUTHORIZED = { message: '401 Unauthorized - Key' };
const NOT_FOUND = { message: '404 Not Found' };
const RECORD_NOT_FOUND = { message: '404 Not found' };
const fail = (message: string) => ({ success: false, message });
const NO_USER = fail('Could not find the given user');
const NO_KEY = fail('Could not find the given key');
const DEPLOY_KEY_CODES = fail('Deploy keys cannot be used to retrieve recovery codes');
const DEPLOY_KEY_TOKENS = fail('Deploy keys cannot be used to create personal access tokens');
const TWO_FACTOR_OFF = fail('Two-factor authentication is not enabled for this user');
const VALID_SCOPES =
  '["ai_features", "api", "create_runner", "k8s_proxy", "manage_runner", "mcp", "mcp_orbit", "read_api", ' +
  '"read_registry", "read_repository", "read_user", "self_rotate", "write_registry", "write_repository"]';
const RECOVERY_CODE = /^[0-9a-f]{16}$/;

interface Person {
  id: number;
  username: string;
  name: string;
  token: string;
}

interface Key {
  id: number;
  ssh: TestSshKey;
}

let app: TestApp;
let alice: Person; // 2FA on, one auth key, a project with a deploy key
let bob: Person; // 2FA off
let aliceKey: Key;
let bobKey: Key;
let signingKey: Key;
let deployKey: Key;
let project: { id: number; path_with_namespace: string };

/** An internal API call as GitLab Shell makes it (fresh JWT each time). */
async function shell(path: string, options: RequestOptions = {}) {
  const { 'Content-Type': json, ...headers } = await shellHeaders(app);
  // GitLab Shell always says JSON; a form body (the original clients) brings its own content type.
  if (!options.form) headers['Content-Type'] = json;
  return app.request(path, { ...options, headers: { ...headers, ...(options.headers ?? {}) } });
}

const post = (path: string, body: unknown) => shell(`/api/v4/internal/${path}`, { method: 'POST', body });

async function person(target: TestApp, scopes = ['api']): Promise<Person> {
  const { user, plaintext } = await createUserWithToken(target, scopes);
  return { id: user.id, username: user.username, name: user.name, token: plaintext };
}

async function addKey(target: TestApp, userId: number, extra: Record<string, unknown> = {}): Promise<Key> {
  const ssh = makeEd25519Key('someone@example.com');
  const response = await target.request(`/api/v4/users/${userId}/keys`, {
    method: 'POST',
    token: ROOT_TOKEN,
    body: { title: 'laptop', key: ssh.line, ...extra },
  });
  if (response.status !== 201) throw new Error(`add key: ${response.status} ${response.text}`);
  return { id: response.body.id, ssh };
}

async function enableTwoFactor(target: TestApp, userId: number) {
  const users = target.services.directory.users;
  await users.update(await users.findById(userId), { twoFactorEnabled: true });
}

async function lastUsedAt(target: TestApp, keyId: number) {
  return (await target.services.directory.keys.findById(keyId)).lastUsedAt as Date | null;
}

test.before(async () => {
  app = await startTestApp({ clock: new TestClock(NOW) });
  alice = await person(app);
  bob = await person(app);
  await enableTwoFactor(app, alice.id);
  aliceKey = await addKey(app, alice.id);
  bobKey = await addKey(app, bob.id);
  signingKey = await addKey(app, alice.id, { usage_type: 'signing' });
  const created = await app.request('/api/v4/projects', { method: 'POST', token: alice.token, body: { name: 'lfs-project' } });
  project = created.body;
  const deploy = makeEd25519Key('ci@example.com');
  const added = await app.request(`/api/v4/projects/${project.id}/deploy_keys`, {
    method: 'POST',
    token: alice.token,
    body: { title: 'ci', key: deploy.line },
  });
  deployKey = { id: added.body.id, ssh: deploy };
});

test.after.always(async () => {
  await app?.close();
});

// ——— Authentication ———

const ROUTES: Array<[string, string]> = [
  ['GET', 'check'],
  ['GET', 'authorized_keys?key=AAAA'],
  ['GET', 'discover?user_id=1'],
  ['POST', 'two_factor_recovery_codes'],
  ['POST', 'personal_access_token'],
  ['POST', 'two_factor_config'],
  ['POST', 'two_factor_manual_otp_check'],
  ['POST', 'two_factor_push_otp_check'],
  ['POST', 'lfs_authenticate'],
];

for (const [method, path] of ROUTES) {
  test(`${method} /internal/${path} refuses requests without the shell secret`, async (t) => {
    const url = `/api/v4/internal/${path}`;
    const body = method === 'POST' ? { key_id: aliceKey.id } : undefined;
    const none = await app.request(url, { method, body });
    t.is(none.status, 401);
    t.deepEqual(none.body, UNAUTHORIZED);
    const userToken = await app.request(url, { method, body, token: alice.token });
    t.is(userToken.status, 401);
    t.deepEqual(userToken.body, UNAUTHORIZED);
    const bearer = await app.request(url, { method, body, token: alice.token, auth: 'bearer' });
    t.is(bearer.status, 401);
    const wrongSecret = await app.request(url, {
      method,
      body,
      headers: { 'Gitlab-Shell-Api-Request': await shellJwt(app, { secret: 'not-the-secret' }) },
    });
    t.is(wrongSecret.status, 401);
    t.deepEqual(wrongSecret.body, UNAUTHORIZED);
  });
}

// ——— /check ———

test('GET /internal/check reports versions and a healthy Redis (or none)', async (t) => {
  const response = await shell('/api/v4/internal/check');
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type')!, /^application\/json/);
  const version = app.services.directory.version;
  t.deepEqual(response.body, { api_version: 'v4', gitlab_version: version.version, gitlab_rev: version.revision, redis: true });
  t.is(response.text, JSON.stringify(response.body), 'field order as GitLab');
});

test('the Redis health check is false when Redis refuses or hangs, true when it answers or is not configured', async (t) => {
  const internal = app.services['internal-api'].internal;
  const withRedis = (redis: unknown) => new Accounts({ ...internal, redis } as never);
  // A real Redis client against: nothing listening, and a peer that accepts but never answers.
  const silent = createNetServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const clients = [
    new Redis({ host: '127.0.0.1', port: 1, maxRetriesPerRequest: 0, enableOfflineQueue: true, retryStrategy: () => null }),
    new Redis({ host: '127.0.0.1', port: (silent.address() as { port: number }).port, maxRetriesPerRequest: 0, retryStrategy: () => null }),
  ];
  for (const client of clients) client.on('error', () => undefined);
  try {
    t.false(await withRedis(clients[0]).redisHealthy(200), 'connection refused');
    t.false(await withRedis(clients[1]).redisHealthy(200), 'no answer');
    t.true(await withRedis(undefined).redisHealthy(200), 'no Redis configured');
    if (TEST_REDIS_URL) {
      const live = new Redis(TEST_REDIS_URL);
      try {
        t.true(await withRedis(live).redisHealthy(1000), 'a live Redis');
      } finally {
        live.disconnect();
      }
    }
  } finally {
    for (const client of clients) client.disconnect();
    silent.close();
  }
});

// ——— /authorized_keys ———

const authorizedKeys = (key?: string) =>
  shell(`/api/v4/internal/authorized_keys${key === undefined ? '' : `?key=${encodeURIComponent(key)}`}`);

test('GET /internal/authorized_keys finds a key by its blob, comment replaced by owner name and host', async (t) => {
  const response = await authorizedKeys(aliceKey.ssh.blob);
  t.is(response.status, 200);
  const stored = await app.services.directory.keys.findById(aliceKey.id);
  t.deepEqual(response.body, {
    id: aliceKey.id,
    title: 'laptop',
    created_at: stored.createdAt.toISOString(),
    expires_at: null,
    last_used_at: null,
    key: `ssh-ed25519 ${aliceKey.ssh.blob} ${alice.name} (${HOST})`,
    usage_type: 'auth_and_signing',
  });
  t.false(response.text.includes('someone@example.com'), 'the comment never leaks');
});

test('GET /internal/authorized_keys finds deploy keys and does not record use', async (t) => {
  const ssh = makeEd25519Key('deploy@example.com');
  const added = await app.request(`/api/v4/projects/${project.id}/deploy_keys`, {
    method: 'POST',
    token: alice.token,
    body: { title: 'lookup only', key: ssh.line },
  });
  const response = await authorizedKeys(ssh.blob);
  t.is(response.status, 200);
  t.like(response.body, { id: added.body.id, title: 'lookup only', last_used_at: null, usage_type: 'auth_and_signing' });
  t.is(response.body.key, `ssh-ed25519 ${ssh.blob} (${HOST})`);
  t.is(await lastUsedAt(app, added.body.id), null);
});

test('GET /internal/authorized_keys: unknown, partial, invalid, signing-only and missing keys are 404 Key Not Found', async (t) => {
  for (const key of [makeEd25519Key().blob, aliceKey.ssh.blob.slice(0, 40), 'whatever!', signingKey.ssh.blob, '', undefined]) {
    const response = await authorizedKeys(key);
    t.is(response.status, 404, String(key));
    t.deepEqual(response.body, KEY_NOT_FOUND);
  }
});

test('GET /internal/authorized_keys: a blocked owner is 401 Unauthorized - Key', async (t) => {
  const carol = await person(app);
  const key = await addKey(app, carol.id);
  const blocked = await app.request(`/api/v4/users/${carol.id}/block`, { method: 'POST', token: ROOT_TOKEN });
  t.is(blocked.status, 201);
  const response = await authorizedKeys(key.ssh.blob);
  t.is(response.status, 401);
  t.deepEqual(response.body, KEY_UNAUTHORIZED);
});

// ——— /discover ———

const discover = (query: string) => shell(`/api/v4/internal/discover?${query}`);

test('GET /internal/discover finds the user by key_id, user_id, username and identifier', async (t) => {
  const hank = await person(app);
  const key = await addKey(app, hank.id);
  const expected = { id: hank.id, username: hank.username, public_email: null, name: hank.name };
  for (const query of [
    `key_id=${key.id}`,
    `user_id=${hank.id}`,
    `username=${hank.username}`,
    `identifier=key-${key.id}`,
    `identifier=user-${hank.id}`,
    `identifier=username-${hank.username}`,
  ]) {
    const response = await discover(query);
    t.is(response.status, 200, query);
    t.deepEqual(response.body, expected, query);
    t.is(response.text, JSON.stringify(expected), 'UserSafe field order');
  }
  t.is(await lastUsedAt(app, key.id), null, 'discover does not record key use');
});

test('GET /internal/discover answers a literal null (200, JSON) when nobody matches', async (t) => {
  for (const query of [
    'key_id=999999',
    'user_id=999999',
    'username=nobody-here',
    `key_id=${signingKey.id}`,
    `key_id=${deployKey.id}`,
    'identifier=bogus',
    '',
  ]) {
    const response = await discover(query);
    t.is(response.status, 200, query);
    t.regex(response.headers.get('content-type')!, /^application\/json/);
    t.is(response.text, 'null', query);
  }
});

// ——— /two_factor_recovery_codes ———

async function storedDigests(userId: number): Promise<string[]> {
  const rows = await app.db('directory_recovery_codes').where({ user_id: userId }).orderBy('id').select('code_digest');
  return rows.map((row: { code_digest: string }) => row.code_digest);
}

test.serial('POST /internal/two_factor_recovery_codes issues ten new codes, stored hashed, replacing the old', async (t) => {
  const dave = await person(app);
  await enableTwoFactor(app, dave.id);
  const key = await addKey(app, dave.id);
  const first = await post('two_factor_recovery_codes', { key_id: String(key.id) });
  t.is(first.status, 200);
  t.is(first.body.success, true);
  t.deepEqual(Object.keys(first.body), ['success', 'recovery_codes']);
  t.is(first.body.recovery_codes.length, 10);
  for (const code of first.body.recovery_codes) t.regex(code, RECOVERY_CODE);
  t.is(new Set(first.body.recovery_codes).size, 10);
  const digests = await storedDigests(dave.id);
  t.is(digests.length, 10);
  for (const code of first.body.recovery_codes) t.false(digests.includes(code), 'codes are stored as digests');
  t.deepEqual(
    [...digests].sort(),
    first.body.recovery_codes.map((code: string) => app.services.directory.users.digest(code)).sort(),
  );
  t.deepEqual((await lastUsedAt(app, key.id))?.toISOString(), NOW, 'key use recorded');

  const second = await shell('/api/v4/internal/two_factor_recovery_codes', { method: 'POST', form: { key_id: String(key.id) } });
  t.is(second.status, 200);
  t.is(second.body.recovery_codes.length, 10);
  const replaced = await storedDigests(dave.id);
  t.is(replaced.length, 10);
  t.false(replaced.some((digest) => digests.includes(digest)), 'old codes are gone');
});

test('POST /internal/two_factor_recovery_codes failures: always 200, GitLab order and messages', async (t) => {
  const cases: Array<[unknown, unknown]> = [
    [{ user_id: 999999 }, NO_USER],
    [{ user_id: alice.id }, NO_KEY],
    [{ key_id: 999999 }, NO_KEY],
    [{ key_id: signingKey.id }, NO_KEY],
    [{}, NO_KEY],
    [{ key_id: deployKey.id }, DEPLOY_KEY_CODES],
    [{ key_id: deployKey.id, user_id: 999999 }, DEPLOY_KEY_CODES],
    [{ key_id: bobKey.id }, TWO_FACTOR_OFF],
  ];
  for (const [body, expected] of cases) {
    const response = await post('two_factor_recovery_codes', body);
    t.is(response.status, 200, JSON.stringify(body));
    t.deepEqual(response.body, expected, JSON.stringify(body));
  }
  t.deepEqual(await storedDigests(bob.id), []);
});

// ——— /personal_access_token ———

test('POST /internal/personal_access_token creates a working token through the tokens service', async (t) => {
  const erin = await person(app);
  const key = await addKey(app, erin.id);
  const before = await app.db('tokens_personal_access_tokens').where({ user_id: erin.id }).count({ n: '*' });
  const response = await post('personal_access_token', {
    key_id: String(key.id),
    name: 'ssh-token',
    scopes: ['read_api', 'read_repository'],
    expires_at: '2026-12-23',
  });
  t.is(response.status, 200);
  t.deepEqual(Object.keys(response.body), ['success', 'token', 'scopes', 'expires_at']);
  t.like(response.body, { success: true, scopes: ['read_api', 'read_repository'], expires_at: '2026-12-23' });
  t.regex(response.body.token, /^glpat-/);
  const rows = await app.db('tokens_personal_access_tokens').where({ user_id: erin.id, name: 'ssh-token' });
  t.is(rows.length, 1);
  t.is(Number(before[0].n) + 1, (await app.db('tokens_personal_access_tokens').where({ user_id: erin.id })).length);
  t.false(JSON.stringify(rows[0]).includes(response.body.token), 'only a digest is stored');
  const me = await app.request('/api/v4/user', { token: response.body.token });
  t.is(me.status, 200);
  t.is(me.body.id, erin.id);
  t.is((await lastUsedAt(app, key.id))?.toISOString(), NOW, 'key use recorded');
});

test('POST /internal/personal_access_token defaults expiry to today + 365 days and takes form bodies', async (t) => {
  const response = await shell('/api/v4/internal/personal_access_token', {
    method: 'POST',
    form: { key_id: String(bobKey.id), name: 'form-token', 'scopes[]': ['api', 'ai_features'] },
  });
  t.is(response.status, 200);
  t.like(response.body, { success: true, scopes: ['api', 'ai_features'], expires_at: '2027-11-22' });
  const single = await post('personal_access_token', { key_id: bobKey.id, name: 'one', scopes: 'read_user', expires_at: '' });
  t.like(single.body, { success: true, scopes: ['read_user'], expires_at: '2027-11-22' });
});

test('POST /internal/personal_access_token failures: always 200, GitLab order and messages', async (t) => {
  const good = { name: 'tok', scopes: ['api'] };
  const cases: Array<[Record<string, unknown>, unknown]> = [
    [{ key_id: deployKey.id, user_id: 999999 }, DEPLOY_KEY_TOKENS],
    [{ key_id: deployKey.id, ...good }, DEPLOY_KEY_TOKENS],
    [{ user_id: 999999, ...good }, NO_USER],
    [{ user_id: alice.id, ...good }, NO_KEY],
    [{ key_id: 999999, ...good }, NO_KEY],
    [{ key_id: signingKey.id, ...good }, NO_KEY],
    [{ ...good }, NO_KEY],
    [{ key_id: aliceKey.id, scopes: ['api'] }, fail('No token name specified')],
    [{ key_id: aliceKey.id, name: '  ', scopes: ['api'] }, fail('No token name specified')],
    [{ key_id: aliceKey.id, name: 'tok' }, fail('No token scopes specified')],
    [{ key_id: aliceKey.id, name: 'tok', scopes: [] }, fail('No token scopes specified')],
    [{ key_id: aliceKey.id, name: 'tok', scopes: ['api', 'sudo', 'bogus'] }, fail(`Invalid scope: 'sudo'. Valid scopes are: ${VALID_SCOPES}`)],
    [{ key_id: aliceKey.id, name: 'tok', scopes: ['admin_mode'], expires_at: 'nope' }, fail(`Invalid scope: 'admin_mode'. Valid scopes are: ${VALID_SCOPES}`)],
    [{ key_id: aliceKey.id, ...good, expires_at: 'tomorrow' }, fail("Invalid token expiry date: 'tomorrow'")],
    [{ key_id: aliceKey.id, ...good, expires_at: '2026-02-30' }, fail("Invalid token expiry date: '2026-02-30'")],
    [{ key_id: aliceKey.id, ...good, expires_at: '2027-12-01' }, fail('Failed to create token: Expires at must be before 2027-11-22')],
    [{ key_id: aliceKey.id, name: 'x'.repeat(256), scopes: ['api'] }, fail('Failed to create token: Name is too long (maximum is 255 characters)')],
  ];
  const before = (await app.db('tokens_personal_access_tokens').where({ user_id: alice.id })).length;
  for (const [body, expected] of cases) {
    const response = await post('personal_access_token', body);
    t.is(response.status, 200, JSON.stringify(body).slice(0, 80));
    t.deepEqual(response.body, expected, JSON.stringify(body).slice(0, 80));
  }
  t.is((await app.db('tokens_personal_access_tokens').where({ user_id: alice.id })).length, before, 'no token created');
});

test('POST /internal/personal_access_token refuses a blocked user', async (t) => {
  const frank = await person(app);
  const key = await addKey(app, frank.id);
  await app.request(`/api/v4/users/${frank.id}/block`, { method: 'POST', token: ROOT_TOKEN });
  const response = await post('personal_access_token', { key_id: key.id, name: 'tok', scopes: ['api'] });
  t.deepEqual(response.body, fail('Failed to create token: Not permitted to create'));
});

// ——— Two-factor siblings ———

test('POST /internal/two_factor_config answers whether the key user needs 2FA', async (t) => {
  const cases: Array<[unknown, unknown]> = [
    [{ key_id: aliceKey.id }, { success: true, two_factor_required: true }],
    [{ key_id: bobKey.id }, { success: true, two_factor_required: false }],
    [{ key_id: deployKey.id }, { success: true, two_factor_required: false }],
    [{ key_id: 999999 }, NO_KEY],
    [{ user_id: alice.id }, NO_KEY],
    [{}, NO_KEY],
  ];
  for (const [body, expected] of cases) {
    const response = await post('two_factor_config', body);
    t.is(response.status, 200);
    t.deepEqual(response.body, expected, JSON.stringify(body));
  }
});

test('POST /internal/two_factor_manual_otp_check and push_otp_check are not available (CE)', async (t) => {
  for (const path of ['two_factor_manual_otp_check', 'two_factor_push_otp_check']) {
    const response = await post(path, { key_id: aliceKey.id, otp_attempt: '123456' });
    t.is(response.status, 200);
    t.deepEqual(response.body, fail('Feature is not available'));
  }
});

// ——— /lfs_authenticate ———

test.serial('POST /internal/lfs_authenticate issues a verifiable LFS token for a key user', async (t) => {
  const gina = await person(app);
  const key = await addKey(app, gina.id);
  const response = await post('lfs_authenticate', { operation: 'download', project: `${project.path_with_namespace}.git`, key_id: String(key.id) });
  t.is(response.status, 200);
  t.deepEqual(Object.keys(response.body), ['username', 'lfs_token', 'repository_http_path', 'expires_in']);
  t.like(response.body, {
    username: gina.username,
    repository_http_path: `${EXTERNAL_URL}/${project.path_with_namespace}.git`,
    expires_in: 7200,
  });
  const iat = Math.floor(new Date(NOW).getTime() / 1000);
  t.deepEqual(decodeProtectedHeader(response.body.lfs_token), { alg: 'HS256', typ: 'JWT' });
  t.deepEqual(decodeJwt(response.body.lfs_token), { actor: gina.username, container: `project-${project.id}`, iat, exp: iat + 7200 });
  const accounts: Accounts = app.services['internal-api'].internal.accounts;
  t.deepEqual(await accounts.verifyLfsToken(response.body.lfs_token), {
    actor: gina.username,
    container: `project-${project.id}`,
    iat,
    exp: iat + 7200,
  });
  t.is((await lastUsedAt(app, key.id))?.toISOString(), NOW, 'key use recorded');
});

test('POST /internal/lfs_authenticate: user_id, deploy keys, gl_repository and wiki repositories', async (t) => {
  const path = project.path_with_namespace;
  const byUser = await post('lfs_authenticate', { project: `/${path}`, user_id: String(alice.id) });
  t.is(byUser.status, 200);
  t.is(byUser.body.username, alice.username);
  t.is(byUser.body.repository_http_path, `${EXTERNAL_URL}/${path}.git`);

  const byDeployKey = await post('lfs_authenticate', { gl_repository: `project-${project.id}`, key_id: deployKey.id, project: 'ignored/x' });
  t.is(byDeployKey.status, 200);
  t.is(byDeployKey.body.username, `lfs+deploy-key-${deployKey.id}`);
  t.is(decodeJwt(byDeployKey.body.lfs_token).actor, `lfs+deploy-key-${deployKey.id}`);

  for (const body of [{ project: `${path}.wiki.git` }, { gl_repository: `wiki-${project.id}` }]) {
    const wiki = await post('lfs_authenticate', { ...body, key_id: aliceKey.id });
    t.is(wiki.status, 200);
    t.is(wiki.body.repository_http_path, `${EXTERNAL_URL}/${path}.wiki.git`);
    t.is(decodeJwt(wiki.body.lfs_token).container, `wiki-${project.id}`);
  }

  const form = await shell('/api/v4/internal/lfs_authenticate', { method: 'POST', form: { project: path, key_id: String(aliceKey.id) } });
  t.is(form.status, 200);
  t.is(form.body.username, alice.username);
});

test('POST /internal/lfs_authenticate: unknown container is 404 Not Found, no actor is 404 Not found', async (t) => {
  const path = project.path_with_namespace;
  const containers = [{ project: 'nobody/nothing.git' }, { gl_repository: 'project-999999' }, { gl_repository: `snippet-${project.id}` }, {}];
  for (const body of containers) {
    for (const actor of [{ key_id: aliceKey.id }, {}]) {
      const response = await post('lfs_authenticate', { ...body, ...actor });
      t.is(response.status, 404, JSON.stringify(body));
      t.deepEqual(response.body, NOT_FOUND, 'the container is checked first');
    }
  }
  for (const actor of [{}, { key_id: 999999 }, { user_id: 999999 }, { key_id: signingKey.id }]) {
    const response = await post('lfs_authenticate', { project: path, ...actor });
    t.is(response.status, 404, JSON.stringify(actor));
    t.deepEqual(response.body, RECORD_NOT_FOUND);
  }
});

// ——— Clock-dependent behaviour (own app: the clock moves) ———

test.serial('LFS tokens expire after two hours; tampered or foreign tokens are refused', async (t) => {
  const clock = new TestClock(NOW);
  const other = await startTestApp({ clock });
  t.teardown(() => other.close());
  const accounts: Accounts = other.services['internal-api'].internal.accounts;
  const owner = await person(other);
  const created = await other.request('/api/v4/projects', { method: 'POST', token: owner.token, body: { name: 'p' } });
  const response = await other.request('/api/v4/internal/lfs_authenticate', {
    method: 'POST',
    headers: await shellHeaders(other),
    body: { project: created.body.path_with_namespace, user_id: owner.id },
  });
  const token: string = response.body.lfs_token;
  t.truthy(await accounts.verifyLfsToken(token));

  const [header, payload, signature] = token.split('.');
  const forged = Buffer.from(JSON.stringify({ ...decodeJwt(token), actor: 'root' })).toString('base64url');
  t.is(await accounts.verifyLfsToken(`${header}.${forged}.${signature}`), undefined, 'tampered payload');
  t.is(await accounts.verifyLfsToken(`${header}.${payload}.${signature.slice(0, -2)}AA`), undefined, 'tampered signature');
  const unsigned = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${payload}.`;
  t.is(await accounts.verifyLfsToken(unsigned), undefined, 'alg none');
  const foreign = await new SignJWT(decodeJwt(token)).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('another-secret'));
  t.is(await accounts.verifyLfsToken(foreign), undefined, 'other secret');
  const hs512 = await new SignJWT(decodeJwt(token))
    .setProtectedHeader({ alg: 'HS512' })
    .sign(new TextEncoder().encode(other.services['internal-api'].internal.lfsSecret.trim()));
  t.is(await accounts.verifyLfsToken(hs512), undefined, 'algorithm pinned to HS256');
  t.is(await accounts.verifyLfsToken('not a jwt'), undefined);

  clock.advance(7199_000);
  t.truthy(await accounts.verifyLfsToken(token), 'still valid just before exp');
  clock.advance(2_000);
  t.is(await accounts.verifyLfsToken(token), undefined, 'expired');
});

test.serial('GET /internal/authorized_keys: an expired key is 404 Key Not Found', async (t) => {
  const clock = new TestClock(NOW);
  const other = await startTestApp({ clock });
  t.teardown(() => other.close());
  const owner = await person(other);
  const key = await addKey(other, owner.id, { expires_at: '2026-11-23T10:00:00Z' });
  const lookup = async () =>
    other.request(`/api/v4/internal/authorized_keys?key=${encodeURIComponent(key.ssh.blob)}`, { headers: await shellHeaders(other) });
  const before = await lookup();
  t.is(before.status, 200);
  t.is(before.body.expires_at, '2026-11-23T10:00:00.000Z');
  clock.set('2026-11-23T10:00:00.000Z');
  const after = await lookup();
  t.is(after.status, 404);
  t.deepEqual(after.body, KEY_NOT_FOUND);
});
