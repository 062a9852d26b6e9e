import { randomBytes } from 'node:crypto';
import test from 'ava';
import { startTestApp, ROOT_TOKEN, type TestApp } from '../../helpers/app.js';
import { UNAUTHORIZED } from '../../helpers/gitlab-errors.js';
import { agentFixture, KAS_JWT_INVALID, kasJwt, kasSecretOf, rawJwt, tokenRow } from './_support.js';

const AGENT_INFO = '/api/v4/internal/kubernetes/agent_info';
const USAGE = '/api/v4/internal/kubernetes/usage_metrics';

let app: TestApp;
let fixture: Awaited<ReturnType<typeof agentFixture>>;

test.before(async () => {
  app = await startTestApp();
  fixture = await agentFixture(app);
});
test.after.always(async () => {
  await app?.close();
});

const nowSeconds = () => Math.floor(app.clock.now().getTime() / 1000);
const agentInfo = (headers: Record<string, string>) => app.request(AGENT_INFO, { headers });
const usage = (headers: Record<string, string>) => app.request(USAGE, { method: 'POST', headers, body: {} });

/** Both a JWT-only route and a JWT + agent token route refuse the JWT with GitLab's KAS message. */
async function jwtRefused(t: any, jwt: string | undefined, label: string) {
  const headers: Record<string, string> = { 'Gitlab-Agent-Api-Request': fixture.agentToken };
  if (jwt !== undefined) headers['Gitlab-Kas-Api-Request'] = jwt;
  for (const response of [await agentInfo(headers), await usage(headers)]) {
    t.is(response.status, 401, label);
    t.deepEqual(response.body, KAS_JWT_INVALID, label);
  }
}

async function jwtAccepted(t: any, jwt: string, label: string) {
  const info = await agentInfo({ 'Gitlab-Kas-Api-Request': jwt, 'Gitlab-Agent-Api-Request': fixture.agentToken });
  t.is(info.status, 200, `${label}: ${info.text}`);
  t.is(info.body.agent_id, fixture.agent.id);
  const metrics = await usage({ 'Gitlab-Kas-Api-Request': jwt });
  t.is(metrics.status, 204, label);
}

test('a valid KAS JWT: 200 on agent_info, 204 on usage_metrics; no exp is accepted', async (t) => {
  await jwtAccepted(t, await kasJwt(app), 'exp in 30 s');
  await jwtAccepted(t, await kasJwt(app, { exp: null }), 'no exp');
  await jwtAccepted(t, await kasJwt(app, { exp: nowSeconds() + 1 }), 'exp one second ahead');
  await jwtAccepted(t, await kasJwt(app, { nbf: nowSeconds() }), 'nbf now');
});

test('aud may be an array holding gitlab', async (t) => {
  await jwtAccepted(t, await kasJwt(app, { aud: ['gitlab', 'other'] }), 'aud array');
  await jwtRefused(t, await kasJwt(app, { aud: ['other', 'gitlab-kas'] }), 'aud array without gitlab');
});

test('missing, empty and malformed JWTs → 401 KAS JWT authentication invalid', async (t) => {
  await jwtRefused(t, undefined, 'missing');
  await jwtRefused(t, '', 'empty');
  await jwtRefused(t, 'not-a-jwt', 'garbage');
  await jwtRefused(t, (await kasJwt(app)).split('.').slice(0, 2).join('.'), 'two segments');
});

test('a JWT signed with another key, or with the secret file text instead of its decoded bytes → 401', async (t) => {
  await jwtRefused(t, await kasJwt(app, { key: randomBytes(32) }), 'other key');
  await jwtRefused(t, await kasJwt(app, { key: Buffer.from(kasSecretOf(app).toString('base64')) }), 'undecoded secret');
});

test('wrong or missing iss and aud → 401', async (t) => {
  await jwtRefused(t, await kasJwt(app, { iss: 'gitlab-shell' }), 'iss gitlab-shell');
  await jwtRefused(t, await kasJwt(app, { iss: null }), 'no iss');
  await jwtRefused(t, await kasJwt(app, { aud: 'gitlab-kas' }), 'aud gitlab-kas');
  await jwtRefused(t, await kasJwt(app, { aud: null }), 'no aud');
});

test('exp and nbf are checked without leeway', async (t) => {
  await jwtRefused(t, await kasJwt(app, { exp: nowSeconds() }), 'exp now');
  await jwtRefused(t, await kasJwt(app, { exp: nowSeconds() - 1 }), 'expired a second ago');
  await jwtRefused(t, await kasJwt(app, { nbf: nowSeconds() + 1 }), 'nbf a second ahead');
  await jwtRefused(t, rawJwt({ alg: 'HS256' }, { iss: 'gitlab-kas', aud: 'gitlab', exp: 'never' }, kasSecretOf(app)), 'exp not a number');
});

test('only HS256: alg none, HS512 and a header without alg → 401', async (t) => {
  const claims = { iss: 'gitlab-kas', aud: 'gitlab' };
  const key = kasSecretOf(app);
  await jwtAccepted(t, rawJwt({ alg: 'HS256', typ: 'JWT' }, claims, key), 'hand-built HS256');
  await jwtRefused(t, rawJwt({ alg: 'none' }, claims, null), 'alg none, no signature');
  await jwtRefused(t, rawJwt({ alg: 'none' }, claims, key), 'alg none with an HS256 signature');
  await jwtRefused(t, rawJwt({ alg: 'HS512' }, claims, key, 'sha512'), 'HS512');
  await jwtRefused(t, rawJwt({ typ: 'JWT' }, claims, key), 'no alg');
});

test('user credentials are never KAS credentials, and the KAS JWT is no user credential', async (t) => {
  await jwtRefused(t, ROOT_TOKEN, 'a PAT in the KAS header');
  const bearer = await app.request(USAGE, { method: 'POST', token: ROOT_TOKEN, auth: 'bearer', body: {} });
  t.is(bearer.status, 401);
  t.deepEqual(bearer.body, KAS_JWT_INVALID);
  const user = await app.request('/api/v4/user', { headers: { 'Gitlab-Kas-Api-Request': await kasJwt(app) } });
  t.is(user.status, 401);
  t.deepEqual(user.body, UNAUTHORIZED);
});

test('the agent token: missing or unknown → 401 Unauthorized, after the JWT check', async (t) => {
  const jwt = await kasJwt(app);
  const cases: Array<Record<string, string>> = [
    { 'Gitlab-Kas-Api-Request': jwt },
    { 'Gitlab-Kas-Api-Request': jwt, 'Gitlab-Agent-Api-Request': 'glagent-unknown-token-000000000000000000000000000000000' },
    { 'Gitlab-Kas-Api-Request': jwt, Authorization: 'Bearer glagent-unknown' },
    { 'Gitlab-Kas-Api-Request': jwt, 'Gitlab-Agent-Api-Request': ROOT_TOKEN },
  ];
  for (const headers of cases) {
    const response = await agentInfo(headers);
    t.is(response.status, 401);
    t.deepEqual(response.body, UNAUTHORIZED);
  }
  // Without a JWT the agent token is never looked at.
  const noJwt = await agentInfo({ 'Gitlab-Agent-Api-Request': fixture.agentToken });
  t.deepEqual(noJwt.body, KAS_JWT_INVALID);
});

test('the agent token is read from Gitlab-Agent-Api-Request (current) and Authorization: Bearer (original docs)', async (t) => {
  const current = await agentInfo({ 'Gitlab-Kas-Api-Request': await kasJwt(app), 'Gitlab-Agent-Api-Request': fixture.agentToken });
  t.is(current.status, 200);
  const original = await agentInfo({ 'Gitlab-Kas-Api-Request': await kasJwt(app), Authorization: `Bearer ${fixture.agentToken}` });
  t.is(original.status, 200);
  t.deepEqual(original.body, current.body);
});

test('a revoked agent token → 401 Unauthorized at once', async (t) => {
  const own = await agentFixture(app, { agentName: 'revoked-one' });
  const headers = async () => ({ 'Gitlab-Kas-Api-Request': await kasJwt(app), 'Gitlab-Agent-Api-Request': own.agentToken });
  t.is((await agentInfo(await headers())).status, 200);
  const revoke = await app.request(`/api/v4/projects/${own.project.id}/cluster_agents/${own.agent.id}/tokens/${own.token.id}`, {
    method: 'DELETE',
    token: own.maintainer.plaintext,
  });
  t.is(revoke.status, 204);
  const refused = await agentInfo(await headers());
  t.is(refused.status, 401);
  t.deepEqual(refused.body, UNAUTHORIZED);
  t.is((await tokenRow(app, own.token.id)).status, 'revoked');
});

test.serial('a successful call records last_used_at (written at most every 10 seconds)', async (t) => {
  const own = await agentFixture(app, { agentName: 'tracked' });
  t.is((await tokenRow(app, own.token.id)).last_used_at, null);
  const call = async () => agentInfo({ 'Gitlab-Kas-Api-Request': await kasJwt(app), 'Gitlab-Agent-Api-Request': own.agentToken });
  const lastUsed = async () => new Date((await tokenRow(app, own.token.id)).last_used_at).toISOString();

  const first = app.clock.now().toISOString();
  t.is((await call()).status, 200);
  t.is(await lastUsed(), first);
  app.clock.advance(5_000);
  await call();
  t.is(await lastUsed(), first, 'not rewritten within 10 seconds');
  app.clock.advance(5_000);
  const later = app.clock.now().toISOString();
  await call();
  t.is(await lastUsed(), later);

  // A refused call (JWT invalid) records nothing.
  app.clock.advance(60_000);
  await agentInfo({ 'Gitlab-Agent-Api-Request': own.agentToken });
  t.is(await lastUsed(), later);

  // The API shows it too.
  const shown = await app.request(`/api/v4/projects/${own.project.id}/cluster_agents/${own.agent.id}/tokens/${own.token.id}`, {
    token: own.maintainer.plaintext,
  });
  t.is(shown.body.last_used_at, later);
});
