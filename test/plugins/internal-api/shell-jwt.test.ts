import { createHmac, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import test from 'ava';
import { SignJWT } from 'jose';
import { createShellJwtVerifier, LEEWAY_SECONDS, SHELL_ISSUER, verifyShellJwt } from '../../../plugins/internal-api/shell-jwt.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { UNAUTHORIZED } from '../../helpers/gitlab-errors.js';
import { shellSecretOf } from '../../helpers/shell.js';

const SECRET = '0123456789abcdef0123456789abcdef';
const NOW = 1_795_000_000;

const b64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A JWT built by hand, so headers and signatures can be anything. */
function craft(header: Record<string, unknown>, payload: Record<string, unknown>, signWith: (input: string) => string) {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${signWith(input)}`;
}
const hs256 = (secret = SECRET) => (input: string) => createHmac('sha256', secret).update(input).digest('base64url');
/** GitLab's helper claims: jti, iss, iat, nbf = iat - 5, exp = iat + 60. */
const claims = (iat = NOW, overrides: Record<string, unknown> = {}) => ({ jti: randomUUID(), iss: SHELL_ISSUER, iat, nbf: iat - 5, exp: iat + 60, ...overrides });
const token = (payload: Record<string, unknown> = claims(), secret = SECRET) => craft({ typ: 'JWT', alg: 'HS256' }, payload, hs256(secret));

test('a token as GitLab Shell mints it is accepted', (t) => {
  t.true(verifyShellJwt(token(), SECRET, NOW));
});

test('a token jose signs (HS256) is accepted: same wire format', async (t) => {
  const jwt = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(SECRET));
  t.true(verifyShellJwt(jwt, SECRET, NOW));
});

test('iat has 60 s leeway: 10 s and 60 s in the future accepted, 61 s refused', (t) => {
  t.true(verifyShellJwt(token(claims(NOW + 10)), SECRET, NOW));
  t.true(verifyShellJwt(token(claims(NOW + 60)), SECRET, NOW));
  t.false(verifyShellJwt(token(claims(NOW + 61)), SECRET, NOW));
  t.false(verifyShellJwt(token(claims(NOW, { iat: NOW + 3600, nbf: undefined, exp: NOW + 7200 })), SECRET, NOW));
});

test('iat is checked only when present, and must be a number', (t) => {
  t.true(verifyShellJwt(token(claims(NOW, { iat: undefined })), SECRET, NOW));
  t.false(verifyShellJwt(token(claims(NOW, { iat: String(NOW) })), SECRET, NOW));
});

test('exp has 60 s leeway: 59 s past accepted, 60 s (2 min after issue) and 61 s past refused', (t) => {
  const jwt = token(claims(NOW));
  const exp = NOW + 60;
  t.is(LEEWAY_SECONDS, 60);
  t.true(verifyShellJwt(jwt, SECRET, exp + 59));
  t.false(verifyShellJwt(jwt, SECRET, NOW + 120));
  t.false(verifyShellJwt(jwt, SECRET, exp + 61));
  t.false(verifyShellJwt(jwt, SECRET, exp + 3600));
});

test('nbf has 60 s leeway: 60 s ahead accepted, beyond refused', (t) => {
  t.true(verifyShellJwt(token(claims(NOW, { nbf: NOW + 60, exp: NOW + 600 })), SECRET, NOW));
  t.false(verifyShellJwt(token(claims(NOW, { nbf: NOW + 61, exp: NOW + 600 })), SECRET, NOW));
  t.false(verifyShellJwt(token(claims(NOW, { nbf: NOW + 3600, exp: NOW + 7200 })), SECRET, NOW));
});

test('a token without exp is refused, whenever it is used; nbf is optional', (t) => {
  t.false(verifyShellJwt(token({ iss: SHELL_ISSUER }), SECRET, NOW));
  t.false(verifyShellJwt(token(claims(NOW, { exp: undefined })), SECRET, NOW));
  t.false(verifyShellJwt(token(claims(NOW, { exp: null })), SECRET, NOW));
  t.true(verifyShellJwt(token(claims(NOW, { nbf: undefined })), SECRET, NOW));
});

test('an empty secret verifies nothing, not even a token signed with the empty key', (t) => {
  t.false(verifyShellJwt(token(claims(), ''), '', NOW));
  t.false(createShellJwtVerifier('')(token(), NOW));
});

test('non-numeric exp or nbf are refused', (t) => {
  t.false(verifyShellJwt(token(claims(NOW, { exp: String(NOW + 60) })), SECRET, NOW));
  t.false(verifyShellJwt(token(claims(NOW, { nbf: 'soon' })), SECRET, NOW));
});

test('the issuer must be gitlab-shell', (t) => {
  t.false(verifyShellJwt(token(claims(NOW, { iss: 'gitlab-workhorse' })), SECRET, NOW));
  t.false(verifyShellJwt(token(claims(NOW, { iss: undefined })), SECRET, NOW));
  t.false(verifyShellJwt(token(claims(NOW, { iss: 'GITLAB-SHELL' })), SECRET, NOW));
});

test('the wrong secret is refused; the key is the raw secret, not its base64', (t) => {
  t.false(verifyShellJwt(token(claims(), 'another-secret'), SECRET, NOW));
  t.false(verifyShellJwt(token(claims(), Buffer.from(SECRET).toString('base64')), SECRET, NOW));
  t.false(verifyShellJwt(token(claims(), `${SECRET}\n`), SECRET, NOW));
});

test('alg none (unsigned) is refused, with or without a signature segment', (t) => {
  const header = b64url({ typ: 'JWT', alg: 'none' });
  const payload = b64url(claims());
  t.false(verifyShellJwt(`${header}.${payload}.`, SECRET, NOW));
  t.false(verifyShellJwt(`${header}.${payload}`, SECRET, NOW));
  t.false(verifyShellJwt(`${header}.${payload}.${hs256()(`${header}.${payload}`)}`, SECRET, NOW));
  // A correct HS256 signature under a header that says none is still refused.
  t.false(verifyShellJwt(craft({ alg: 'None' }, claims(), hs256()), SECRET, NOW));
});

test('HS512 and HS384 are refused even with the right secret', async (t) => {
  t.false(verifyShellJwt(craft({ alg: 'HS512' }, claims(), (i) => createHmac('sha512', SECRET).update(i).digest('base64url')), SECRET, NOW));
  const jose512 = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS512' }).sign(new TextEncoder().encode(SECRET));
  t.false(verifyShellJwt(jose512, SECRET, NOW));
  t.false(verifyShellJwt(craft({ alg: 'HS384' }, claims(), (i) => createHmac('sha384', SECRET).update(i).digest('base64url')), SECRET, NOW));
});

test('RS256 is refused, including the RS/HS confusion (HMAC keyed with a public key)', (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  t.false(verifyShellJwt(craft({ alg: 'RS256' }, claims(), (i) => sign('sha256', Buffer.from(i), privateKey).toString('base64url')), SECRET, NOW));
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  t.false(verifyShellJwt(craft({ alg: 'RS256' }, claims(), hs256(pem)), pem, NOW));
  t.false(verifyShellJwt(craft({ alg: 'RS256' }, claims(), hs256()), SECRET, NOW));
});

test('a tampered payload or header is refused', (t) => {
  const [header, , signature] = token().split('.');
  const forged = b64url(claims(NOW, { exp: NOW + 10 ** 6 }));
  t.false(verifyShellJwt(`${header}.${forged}.${signature}`, SECRET, NOW));
  const [, payload, signature2] = token().split('.');
  t.false(verifyShellJwt(`${b64url({ alg: 'HS256', typ: 'JWT', kid: 'x' })}.${payload}.${signature2}`, SECRET, NOW));
  // A flipped signature character, a truncated and an extended signature.
  const good = token();
  const last = good.at(-1) === 'A' ? 'B' : 'A';
  t.false(verifyShellJwt(`${good.slice(0, -1)}${last}`, SECRET, NOW));
  t.false(verifyShellJwt(good.slice(0, -4), SECRET, NOW));
  t.false(verifyShellJwt(`${good}AAAA`, SECRET, NOW));
});

test('garbage is refused without throwing', (t) => {
  for (const value of ['', 'garbage', 'a.b.c', '...', 'Bearer x', `${token()}.extra`, '%%%.%%%.%%%', b64url('[]') + '.' + b64url('[]') + '.x', 'eyJ.eyJ.x']) {
    t.false(verifyShellJwt(value, SECRET, NOW), value);
  }
  t.false(verifyShellJwt(craft({ alg: 'HS256', crit: ['exp'] }, claims(), hs256()), SECRET, NOW));
  t.false(verifyShellJwt(craft({ alg: 'HS256' }, [] as unknown as Record<string, unknown>, hs256()), SECRET, NOW));
});

test('a verifier remembers tokens that verified, and still applies exp, nbf and iat to them on every use', (t) => {
  const verify = createShellJwtVerifier(SECRET);
  const jwt = token(claims(NOW));
  t.true(verify(jwt, NOW));
  t.true(verify(jwt, NOW + 60 + LEEWAY_SECONDS - 1), 'remembered and still within the leeway');
  t.false(verify(jwt, NOW + 60 + LEEWAY_SECONDS), 'a remembered token expires like any other');
  const early = token(claims(NOW, { nbf: NOW + 600, exp: NOW + 1200 }));
  t.false(verify(early, NOW));
  t.true(verify(early, NOW + 600 - LEEWAY_SECONDS));
  t.false(verify(early, NOW), 'remembering it did not make it valid before nbf');
  const future = token(claims(NOW + 600, { nbf: undefined }));
  t.true(verify(future, NOW + 600 - LEEWAY_SECONDS));
  t.false(verify(future, NOW), 'remembering it did not make an iat in the future acceptable earlier');
});

test('a verifier never remembers a refusal, nor lets a remembered token vouch for a tampered one', (t) => {
  const verify = createShellJwtVerifier(SECRET);
  const forged = token(claims(NOW), 'not-the-secret');
  t.false(verify(forged, NOW));
  t.false(verify(forged, NOW));
  const good = token(claims(NOW));
  t.true(verify(good, NOW));
  const [header, , signature] = good.split('.');
  const tampered = `${header}.${b64url(claims(NOW, { iss: 'gitlab-workhorse' }))}.${signature}`;
  t.false(verify(tampered, NOW));
  t.false(createShellJwtVerifier('another-secret')(good, NOW), 'verdicts belong to one secret');
});

test('a signature differing only in the unused low bits of its last character is refused', (t) => {
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const good = token();
  const last = ALPHABET.indexOf(good.at(-1)!);
  const twin = `${good.slice(0, -1)}${ALPHABET[last ^ 1]}`;
  t.deepEqual(Buffer.from(twin.split('.')[2], 'base64url'), Buffer.from(good.split('.')[2], 'base64url'), 'both decode to the same bytes');
  t.true(verifyShellJwt(good, SECRET, NOW));
  t.false(verifyShellJwt(twin, SECRET, NOW));
});

// ---------------------------------------------------------------- through the gateway

const CHECK = '/api/v4/internal/check';
let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(() => app?.close());

/** A token as GitLab Shell mints it for the app's secret, at the app's clock, with `claims` changed. */
const shellToken = (changes: Record<string, unknown>) => {
  const now = Math.floor(app.clock.now().getTime() / 1000);
  return token(claims(now, changes), shellSecretOf(app));
};
const check = (jwt: string) => app.request(CHECK, { headers: { 'Gitlab-Shell-Api-Request': jwt } });

test('GET /internal/check: a valid JWT → 200', async (t) => {
  const response = await check(shellToken({}));
  t.is(response.status, 200);
  const version = app.services.directory.version;
  t.deepEqual(response.body, { api_version: 'v4', gitlab_version: version.version, gitlab_rev: version.revision, redis: true });
});

test('GET /internal/check: a JWT without exp → 401', async (t) => {
  const response = await check(shellToken({ exp: undefined }));
  t.is(response.status, 401);
  t.deepEqual(response.body, UNAUTHORIZED);
});

test('GET /internal/check: a JWT issued more than 60 s in the future → 401; 60 s ahead → 200', async (t) => {
  const now = Math.floor(app.clock.now().getTime() / 1000);
  const ahead = await check(shellToken({ iat: now + 61, nbf: undefined, exp: now + 121 }));
  t.is(ahead.status, 401);
  t.deepEqual(ahead.body, UNAUTHORIZED);
  const withinLeeway = await check(shellToken({ iat: now + 60, nbf: undefined, exp: now + 120 }));
  t.is(withinLeeway.status, 200);
});
