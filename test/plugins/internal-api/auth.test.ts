import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import pino from 'pino';
import { loadConfig } from '../../../core/config/loader.js';
import { createSecretStore } from '../../../core/config/secrets.js';
import { createStaticFlags } from '../../../core/flags/resolver.js';
import { createGateway } from '../../../core/gateway.js';
import { registry as defaultRegistry } from '../../../core/plugins/registry.js';
import { definePlugin } from '../../../core/plugins/types.js';
import { startTestApp, ROOT_TOKEN, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { shellJwt, shellSecretOf } from '../../helpers/shell.js';
import { UNAUTHORIZED } from '../../helpers/gitlab-errors.js';

const PROBE = '/api/v4/internal/auth_probe';

/**
 * A throwaway plugin with one GET and one POST route behind the real `gitlab_shell` strategy, so the
 * strategy is tested through the real loader, auth middleware and error writer.
 */
const probePlugin = definePlugin({
  name: 'shell-probe',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'Test only: routes behind gitlab_shell.',
  dependsOn: ['internal-api'],
  routes: (['GET', 'POST'] as const).map((method) => ({
    name: `shell-probe.${method.toLowerCase()}`,
    method,
    path: PROBE,
    auth: { strategy: 'gitlab_shell' },
    handler(ctx: any) {
      ctx.body = { principal: ctx.state.principal };
    },
  })),
});
const registry = [...defaultRegistry, probePlugin];

let app: TestApp;
let noLegacy: TestApp;
let userToken: string;

test.before(async () => {
  app = await startTestApp({ registry });
  noLegacy = await startTestApp({ registry, config: { plugins: { 'internal-api': { legacySecretAuth: false } } } });
  userToken = (await createUserWithToken(app, ['api'], { admin: true })).plaintext;
});
test.after.always(async () => {
  await app?.close();
  await noLegacy?.close();
});

const base64 = (value: string) => Buffer.from(value).toString('base64');
const probe = (target: TestApp, headers: Record<string, string> = {}, query = '') => target.request(`${PROBE}${query}`, { headers });

async function accepted(t: any, response: { status: number; body: any }) {
  t.is(response.status, 200, JSON.stringify(response.body));
  t.deepEqual(response.body, { principal: { kind: 'service', service: 'gitlab-shell' } });
}
async function refused(t: any, response: { status: number; body: any }) {
  t.is(response.status, 401);
  t.deepEqual(response.body, UNAUTHORIZED);
}

// ---------------------------------------------------------------- the JWT

test('a valid Gitlab-Shell-Api-Request JWT is accepted', async (t) => {
  await accepted(t, await probe(app, { 'Gitlab-Shell-Api-Request': await shellJwt(app) }));
});

test('iat 10 s in the future is accepted', async (t) => {
  const now = Math.floor(app.clock.now().getTime() / 1000);
  await accepted(t, await probe(app, { 'Gitlab-Shell-Api-Request': await shellJwt(app, { iat: now + 10, exp: now + 70 }) }));
});

test('exp: 59 s past is accepted (leeway); 2 min after issue and later is 401', async (t) => {
  const now = Math.floor(app.clock.now().getTime() / 1000);
  const at = (seconds: number) => shellJwt(app, { iat: now - seconds, exp: now - seconds + 60 });
  await accepted(t, await probe(app, { 'Gitlab-Shell-Api-Request': await at(119) }));
  await refused(t, await probe(app, { 'Gitlab-Shell-Api-Request': await at(120) }));
  await refused(t, await probe(app, { 'Gitlab-Shell-Api-Request': await at(121) }));
});

test('nbf in the future beyond the leeway is 401', async (t) => {
  const now = Math.floor(app.clock.now().getTime() / 1000);
  await accepted(t, await probe(app, { 'Gitlab-Shell-Api-Request': await shellJwt(app, { nbf: now + 30, exp: now + 600 }) }));
  await refused(t, await probe(app, { 'Gitlab-Shell-Api-Request': await shellJwt(app, { nbf: now + 61, exp: now + 600 }) }));
});

test.serial('the strategy reads the injected clock', async (t) => {
  const jwt = await shellJwt(noLegacy);
  await accepted(t, await probe(noLegacy, { 'Gitlab-Shell-Api-Request': jwt }));
  noLegacy.clock.advance(121_000);
  try {
    await refused(t, await probe(noLegacy, { 'Gitlab-Shell-Api-Request': jwt }));
  } finally {
    noLegacy.clock.advance(-121_000);
  }
});

test('issuer gitlab-workhorse, a wrong secret, HS512, alg none, RS256, tampering, garbage: 401', async (t) => {
  const header = (value: string) => ({ 'Gitlab-Shell-Api-Request': value });
  await refused(t, await probe(app, header(await shellJwt(app, { iss: 'gitlab-workhorse' }))));
  await refused(t, await probe(app, header(await shellJwt(app, { secret: 'wrong-secret' }))));
  await refused(t, await probe(app, header(await shellJwt(app, { alg: 'HS512' }))));
  const now = Math.floor(app.clock.now().getTime() / 1000);
  const payload = Buffer.from(JSON.stringify({ iss: 'gitlab-shell', iat: now, exp: now + 60 })).toString('base64url');
  const none = Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url');
  await refused(t, await probe(app, header(`${none}.${payload}.`)));
  const { generateKeyPairSync, sign } = await import('node:crypto');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rs = Buffer.from('{"alg":"RS256","typ":"JWT"}').toString('base64url');
  await refused(t, await probe(app, header(`${rs}.${payload}.${sign('sha256', Buffer.from(`${rs}.${payload}`), privateKey).toString('base64url')}`)));
  const [h, , s] = (await shellJwt(app)).split('.');
  const forged = Buffer.from(JSON.stringify({ iss: 'gitlab-shell', iat: now, exp: now + 10 ** 6 })).toString('base64url');
  await refused(t, await probe(app, header(`${h}.${forged}.${s}`)));
  await refused(t, await probe(app, header('garbage')));
  await refused(t, await probe(app, header(base64(shellSecretOf(app)))));
});

test('no credentials at all: 401', async (t) => {
  await refused(t, await probe(app));
  await refused(t, await probe(noLegacy));
});

// ---------------------------------------------------------------- the legacy shared secret

test('legacy Gitlab-Shared-Secret: base64(secret), with or without a trailing newline, is accepted', async (t) => {
  const secret = shellSecretOf(app);
  await accepted(t, await probe(app, { 'Gitlab-Shared-Secret': base64(secret) }));
  await accepted(t, await probe(app, { 'Gitlab-Shared-Secret': base64(`${secret}\n`) }));
  await refused(t, await probe(app, { 'Gitlab-Shared-Secret': base64(`${secret}x`) }));
  await refused(t, await probe(app, { 'Gitlab-Shared-Secret': secret }));
});

test('legacy secret_token param: query and form body are accepted', async (t) => {
  const secret = shellSecretOf(app);
  await accepted(t, await probe(app, {}, `?secret_token=${encodeURIComponent(secret)}`));
  await accepted(t, await app.request(PROBE, { method: 'POST', form: { secret_token: secret } }));
  await accepted(t, await app.request(PROBE, { method: 'POST', body: { secret_token: secret } }));
});

test('a wrong secret_token param beats a right header (the param wins)', async (t) => {
  const secret = shellSecretOf(app);
  await refused(t, await probe(app, { 'Gitlab-Shared-Secret': base64(secret) }, '?secret_token=wrong'));
  await refused(t, await app.request(PROBE, { method: 'POST', form: { secret_token: 'wrong' }, headers: { 'Gitlab-Shared-Secret': base64(secret) } }));
});

test('legacySecretAuth false: the legacy header and param are 401, the JWT still works', async (t) => {
  const secret = shellSecretOf(noLegacy);
  await refused(t, await probe(noLegacy, { 'Gitlab-Shared-Secret': base64(secret) }));
  await refused(t, await probe(noLegacy, {}, `?secret_token=${encodeURIComponent(secret)}`));
  await accepted(t, await probe(noLegacy, { 'Gitlab-Shell-Api-Request': await shellJwt(noLegacy) }));
});

// ---------------------------------------------------------------- never mixed with user auth

test('user tokens are not shell credentials (PRIVATE-TOKEN, Bearer, private_token param, root)', async (t) => {
  for (const token of [userToken, ROOT_TOKEN]) {
    await refused(t, await app.request(PROBE, { token }));
    await refused(t, await app.request(PROBE, { token, auth: 'bearer' }));
    await refused(t, await app.request(PROBE, { token, auth: 'param' }));
  }
  await refused(t, await app.request('/api/v4/internal/pre_receive', { method: 'POST', token: userToken, body: {} }));
});

test('the shell JWT and shared secret are not user credentials on user routes', async (t) => {
  const secret = shellSecretOf(app);
  const credentials: Array<Record<string, string>> = [{ 'Gitlab-Shell-Api-Request': await shellJwt(app) }, { 'Gitlab-Shared-Secret': base64(secret) }];
  for (const headers of credentials) {
    const response = await app.request('/api/v4/user', { headers });
    t.is(response.status, 401);
    t.deepEqual(response.body, UNAUTHORIZED);
  }
  const bearer = await app.request('/api/v4/user', { token: await shellJwt(app), auth: 'bearer' });
  t.is(bearer.status, 401);
});

// ---------------------------------------------------------------- the secret file

async function bootWithDataDir(dataDir: string) {
  const config = loadConfig({
    plugins: defaultRegistry,
    files: false,
    env: {},
    overrides: { dataDir, rootToken: ROOT_TOKEN, db: { client: 'sqlite3', filename: ':memory:' }, log: { level: 'silent', requests: false } },
  });
  return createGateway({
    config,
    registry: defaultRegistry,
    flags: createStaticFlags(defaultRegistry.flatMap((p) => p.flags ?? [])),
    secrets: createSecretStore(dataDir),
    logger: pino({ level: 'silent' }),
  });
}

test('the shell secret file is generated on first boot: 32 hex chars, mode 0600, reused on the next boot', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-shell-'));
  try {
    const first = await bootWithDataDir(dataDir);
    const file = join(dataDir, '.gitlab_shell_secret');
    const contents = readFileSync(file, 'utf8');
    t.regex(contents, /^[0-9a-f]{32}\n$/);
    t.is(statSync(file).mode & 0o777, 0o600);
    t.is((first.services as any)['internal-api'].internal.shellSecret, contents.trim());
    await first.close();
    const second = await bootWithDataDir(dataDir);
    t.is((second.services as any)['internal-api'].internal.shellSecret, contents.trim());
    await second.close();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a secret file with surrounding whitespace and newlines is trimmed (GitLab Shell signs with the trimmed value)', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-shell-'));
  try {
    writeFileSync(join(dataDir, '.gitlab_shell_secret'), '  s3cret-from-gitlab-shell-0123456789 \n\n');
    const gateway = await bootWithDataDir(dataDir);
    t.is((gateway.services as any)['internal-api'].internal.shellSecret, 's3cret-from-gitlab-shell-0123456789');
    await gateway.close();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- the real route GitLab's base_spec uses

test('GET /internal/check: JWT, secret_token param and Gitlab-Shared-Secret header → 200; nothing or a PAT → 401', async (t) => {
  const secret = shellSecretOf(app);
  const check = '/api/v4/internal/check';
  t.is((await app.request(check, { headers: { 'Gitlab-Shell-Api-Request': await shellJwt(app) } })).status, 200);
  t.is((await app.request(`${check}?secret_token=${encodeURIComponent(secret)}`)).status, 200);
  t.is((await app.request(check, { headers: { 'Gitlab-Shared-Secret': base64(`${secret}\n`) } })).status, 200);
  await refused(t, await app.request(check));
  await refused(t, await app.request(check, { token: userToken }));
  await refused(t, await app.request(check, { headers: { 'Gitlab-Shell-Api-Request': await shellJwt(app, { iss: 'gitlab-workhorse' }) } }));
  await refused(t, await noLegacy.request(check, { headers: { 'Gitlab-Shared-Secret': base64(shellSecretOf(noLegacy)) } }));
});
