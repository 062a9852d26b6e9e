import test from 'ava';
import { createLocalJWKSet, createRemoteJWKSet, calculateJwkThumbprint, jwtVerify } from 'jose';
import { EXTERNAL_URL, ROOT_TOKEN, startTestApp } from '../../helpers/app.js';
import { createMemorySecretStore } from '../../../core/config/secrets.js';
import { generateSigningKeyPem } from '../../../core/signing/instance-keys.js';
import {
  AI_SCOPES,
  NOT_FOUND,
  NOW_S,
  ORIGIN_HEADER,
  TOKENS,
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
  cs = await startCsApp();
});
test.after.always(async () => {
  await cs?.close();
});

// --- POST /code_suggestions/tokens -----------------------------------------------------------------

test('tokens: 401 without credentials, with the monolith origin header', async (t) => {
  const response = await post(cs.app, TOKENS);
  t.is(response.status, 401);
  t.deepEqual(response.body, UNAUTHORIZED);
  t.is(response.headers.get(ORIGIN_HEADER), 'monolith');
});

test('tokens: read_api (and other scopes) → 403 insufficient_scope naming api and ai_features', async (t) => {
  for (const scopes of [['read_api'], ['read_user']]) {
    const { plaintext } = await userWithToken(cs.app, scopes);
    const response = await post(cs.app, TOKENS, { token: plaintext });
    t.is(response.status, 403);
    t.deepEqual(response.body, insufficientScope(AI_SCOPES));
    t.is(response.headers.get(ORIGIN_HEADER), 'monolith');
  }
});

test('tokens: a user whose namespaces all have Code Suggestions off → 401', async (t) => {
  const { user, plaintext } = await userWithToken(cs.app, ['api']);
  await disableForUser(cs.app, user.id, ROOT_TOKEN);
  const response = await post(cs.app, TOKENS, { token: plaintext });
  t.is(response.status, 401);
  t.deepEqual(response.body, UNAUTHORIZED);
  t.is(response.headers.get(ORIGIN_HEADER), 'monolith');
});

test('tokens: 201 with a one-hour RS256 JWT carrying GitLab\'s claims and the current key\'s kid', async (t) => {
  for (const scopes of [['api'], ['ai_features']]) {
    const { plaintext } = await userWithToken(cs.app, scopes);
    const response = await post(cs.app, TOKENS, { token: plaintext });
    t.is(response.status, 201);
    t.deepEqual(Object.keys(response.body), ['access_token', 'expires_in', 'created_at']);
    t.is(response.body.expires_in, 3600);
    t.is(response.body.created_at, NOW_S);
    const { header, payload } = decodeJwt(response.body.access_token);
    t.deepEqual(header, { alg: 'RS256', typ: 'JWT', kid: cs.app.services['code-suggestions'].service.keys.currentKid });
    t.deepEqual(Object.keys(payload).sort(), ['aud', 'exp', 'gitlab_realm', 'iat', 'iss', 'jti', 'nbf', 'scopes', 'sub', 'third_party_ai_features_enabled']);
    t.like(payload, {
      aud: 'gitlab-ai-gateway',
      iss: EXTERNAL_URL,
      iat: NOW_S,
      nbf: NOW_S - 5,
      exp: NOW_S + 3600,
      gitlab_realm: 'self-managed',
      third_party_ai_features_enabled: true,
      scopes: ['code_suggestions'],
    });
    t.regex(payload.jti, /^[0-9a-f-]{36}$/);
    t.regex(payload.sub, /^[0-9a-f]{64}$/);
  }
});

test('tokens: every call mints a new token (new jti)', async (t) => {
  const { plaintext } = await userWithToken(cs.app);
  const first = await post(cs.app, TOKENS, { token: plaintext });
  const second = await post(cs.app, TOKENS, { token: plaintext });
  t.not(decodeJwt(first.body.access_token).payload.jti, decodeJwt(second.body.access_token).payload.jti);
});

test('tokens: flag code_suggestions_tokens_api off → 404 with the origin header', async (t) => {
  const app = await startTestApp({ flags: { code_suggestions_tokens_api: false } });
  try {
    const { plaintext } = await userWithToken(app);
    const response = await post(app, TOKENS, { token: plaintext });
    t.is(response.status, 404);
    t.deepEqual(response.body, NOT_FOUND);
    t.is(response.headers.get(ORIGIN_HEADER), 'monolith');
  } finally {
    await app.close();
  }
});

// --- JWKS and discovery ------------------------------------------------------------------------------

test('JWKS: /oauth/discovery/keys and /-/jwks publish the RSA key with its RFC 7638 kid, public and cached for a day', async (t) => {
  for (const path of ['/oauth/discovery/keys', '/-/jwks']) {
    const response = await cs.app.request(path);
    t.is(response.status, 200);
    t.is(response.headers.get('cache-control'), 'max-age=86400, public, must-revalidate, no-transform');
    t.regex(response.headers.get('content-type')!, /^application\/json/);
    t.is(response.body.keys.length, 1);
    const [key] = response.body.keys;
    t.deepEqual(Object.keys(key), ['kty', 'kid', 'e', 'n', 'use', 'alg']);
    t.like(key, { kty: 'RSA', e: 'AQAB', use: 'sig', alg: 'RS256' });
    t.is(key.kid, await calculateJwkThumbprint({ kty: 'RSA', e: key.e, n: key.n }, 'sha256'));
    t.false('d' in key, 'no private part');
  }
});

test('OpenID discovery names the issuer and the JWKS URL', async (t) => {
  const response = await cs.app.request('/.well-known/openid-configuration');
  t.is(response.status, 200);
  // With the oauth-provider plugin enabled (the default) the document is its complete one; these fields are in both.
  t.like(response.body, {
    issuer: EXTERNAL_URL,
    jwks_uri: `${EXTERNAL_URL}/oauth/discovery/keys`,
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
  });
});

test('issued tokens verify with jose against the JWKS fetched over HTTP (iss, aud, exp checked)', async (t) => {
  const { plaintext } = await userWithToken(cs.app);
  const { body } = await post(cs.app, TOKENS, { token: plaintext });
  const jwks = createRemoteJWKSet(new URL(`${cs.app.url}/oauth/discovery/keys`));
  const { payload, protectedHeader } = await jwtVerify(body.access_token, jwks, {
    issuer: EXTERNAL_URL,
    audience: 'gitlab-ai-gateway',
    algorithms: ['RS256'],
    currentDate: new Date(NOW_S * 1000),
  });
  t.is(payload.iss, EXTERNAL_URL);
  t.is(protectedHeader.kid, cs.app.services['code-suggestions'].service.keys.currentKid);
  // A tampered token does not verify.
  const [h, p, s] = body.access_token.split('.');
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'someone-else' })).toString('base64url');
  await t.throwsAsync(jwtVerify(`${h}.${forged}.${s}`, jwks, { currentDate: new Date(NOW_S * 1000) }));
});

test('key rotation: tokens signed with the old key still verify while it is published as a previous key', async (t) => {
  const secrets = createMemorySecretStore();
  secrets.ensure('old.pem', generateSigningKeyPem);
  const before = await startTestApp({ secrets, config: { plugins: { 'code-suggestions': { signingKeyFile: 'old.pem' } } } });
  let oldToken: string;
  try {
    const { plaintext } = await userWithToken(before);
    oldToken = (await post(before, TOKENS, { token: plaintext })).body.access_token;
  } finally {
    await before.close();
  }
  const oldKid = decodeJwt(oldToken).header.kid;

  const after = await startTestApp({
    secrets,
    config: { plugins: { 'code-suggestions': { signingKeyFile: 'new.pem', previousSigningKeyFiles: ['old.pem'] } } },
  });
  try {
    const published = (await after.request('/oauth/discovery/keys')).body.keys.map((key: { kid: string }) => key.kid);
    const newKid = after.services['code-suggestions'].service.keys.currentKid;
    t.deepEqual(published, [newKid, oldKid], 'the current key first, then the previous one');
    t.not(newKid, oldKid);
    const jwks = createRemoteJWKSet(new URL(`${after.url}/-/jwks`));
    const options = { issuer: EXTERNAL_URL, audience: 'gitlab-ai-gateway', currentDate: new Date(NOW_S * 1000) };
    t.is((await jwtVerify(oldToken, jwks, options)).protectedHeader.kid, oldKid);
    const { plaintext } = await userWithToken(after);
    const newToken = (await post(after, TOKENS, { token: plaintext })).body.access_token;
    t.is((await jwtVerify(newToken, jwks, options)).protectedHeader.kid, newKid);
  } finally {
    await after.close();
  }

  // Once the old key is dropped from the list, its tokens no longer verify.
  const later = await startTestApp({ secrets, config: { plugins: { 'code-suggestions': { signingKeyFile: 'new.pem' } } } });
  try {
    const jwks = createLocalJWKSet((await later.request('/oauth/discovery/keys')).body);
    await t.throwsAsync(jwtVerify(oldToken, jwks, { currentDate: new Date(NOW_S * 1000) }));
  } finally {
    await later.close();
  }
});

test('a previous signing key file that does not exist stops boot', async (t) => {
  const error = await t.throwsAsync(startTestApp({ config: { plugins: { 'code-suggestions': { previousSigningKeyFiles: ['gone.pem'] } } } }));
  t.regex(error!.message, /previous Code Suggestions signing key file gone\.pem does not exist/);
});

test('the signing key is generated once, as PKCS#8 PEM, and reused by the next boot', async (t) => {
  const secrets = createMemorySecretStore();
  const first = await startTestApp({ secrets });
  const kid = first.services['code-suggestions'].service.keys.currentKid;
  await first.close();
  t.regex(secrets.ensure('.gatehouse_oidc_signing_key', () => 'regenerated'), /^-----BEGIN PRIVATE KEY-----\n[\s\S]+-----END PRIVATE KEY-----\n?$/);
  const second = await startTestApp({ secrets });
  t.is(second.services['code-suggestions'].service.keys.currentKid, kid);
  await second.close();
});
