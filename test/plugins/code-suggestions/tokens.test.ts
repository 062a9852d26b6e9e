import test from 'ava';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { EXTERNAL_URL, ROOT_TOKEN, startTestApp } from '../../helpers/app.js';
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
    t.deepEqual(header, { alg: 'RS256', typ: 'JWT', kid: cs.app.gateway.instanceKeys.currentKid });
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

// --- Verifying against the published keys ---------------------------------------------------------

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
  t.is(protectedHeader.kid, cs.app.gateway.instanceKeys.currentKid);
  // A tampered token does not verify.
  const [h, p, s] = body.access_token.split('.');
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'someone-else' })).toString('base64url');
  await t.throwsAsync(jwtVerify(`${h}.${forged}.${s}`, jwks, { currentDate: new Date(NOW_S * 1000) }));
});
