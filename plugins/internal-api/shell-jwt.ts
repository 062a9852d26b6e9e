import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';

interface TimeClaims {
  exp: number;
  nbf?: number;
  iat?: number;
}

/** The issuer GitLab Shell and Gitaly put in their internal-API JWTs. */
export const SHELL_ISSUER = 'gitlab-shell';
/** GitLab verifies `exp`, `nbf` and `iat` with 60 seconds of leeway (`JSONWebToken::HMACToken::IAT_LEEWAY`). */
export const LEEWAY_SECONDS = 60;

const BASE64URL = /^[A-Za-z0-9_-]*$/;

function decodeJson(segment: string): Record<string, unknown> | undefined {
  if (!BASE64URL.test(segment)) return undefined;
  try {
    const value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Verifies a `Gitlab-Shell-Api-Request` JWT as GitLab does (`Gitlab::Shell.verify_api_request`):
 * HS256 only (the header's `alg` must say so: no `none`, no RS/HS confusion), the key is the raw shell
 * secret, `iss` must be `gitlab-shell`, `nbf` is checked with 60 s leeway when present, and `iat` too
 * (`JSONWebToken::HMACToken.decode` passes `verify_iat: true`): a token issued more than 60 s in the
 * future is refused. `exp` is required: GitLab Shell and Gitaly always send it, and a token without one
 * would stay valid for ever once it leaked. An empty secret verifies nothing (anyone can sign with it).
 *
 * node:crypto's HMAC rather than jose: jose runs HS256 through WebCrypto, which costs more than the
 * whole `/allowed` request it guards; the rules are the same, and the signature is compared in
 * constant time on equal-length digests.
 *
 * GitLab Shell's tokens carry only `iss`, `iat` and `exp` in whole seconds, so every call a client
 * makes within one second presents the same token: verified tokens are remembered (bounded) with their
 * `exp`/`nbf`/`iat`, which are still checked against the clock on every use. Only tokens that verified are
 * remembered, the key is the whole token (signature included), and the secret cannot change while the
 * verifier lives, so a remembered verdict is exactly the one a full check would give.
 */
export function createShellJwtVerifier(secret: string): (token: string, nowSeconds: number) => boolean {
  if (secret === '') return () => false;
  const key = createSecretKey(Buffer.from(secret, 'utf8'));
  const verified = new LRUCache<string, TimeClaims>({ max: 1024 });
  const timely = (claims: TimeClaims, nowSeconds: number) =>
    // ruby-jwt's rules: expired once `exp <= now - leeway`, immature while `nbf > now + leeway`, issued
    // in the future while `iat > now + leeway`.
    nowSeconds < claims.exp + LEEWAY_SECONDS &&
    (claims.nbf === undefined || nowSeconds >= claims.nbf - LEEWAY_SECONDS) &&
    (claims.iat === undefined || claims.iat <= nowSeconds + LEEWAY_SECONDS);
  const headerVerdicts = new Map<string, boolean>();
  const headerIsHs256 = (segment: string) => {
    let verdict = headerVerdicts.get(segment);
    if (verdict === undefined) {
      const header = decodeJson(segment);
      verdict = Boolean(header && header.alg === 'HS256' && !('crit' in header));
      // Bounded: a client cycling through headers only ever costs a parse.
      if (headerVerdicts.size < 32) headerVerdicts.set(segment, verdict);
    }
    return verdict;
  };

  return function verify(token, nowSeconds) {
    const known = verified.get(token);
    if (known) return timely(known, nowSeconds);
    const firstDot = token.indexOf('.');
    const secondDot = token.indexOf('.', firstDot + 1);
    if (firstDot < 0 || secondDot < 0 || token.indexOf('.', secondDot + 1) >= 0) return false;
    const headerPart = token.slice(0, firstDot);
    if (!headerIsHs256(headerPart)) return false;
    const signaturePart = token.slice(secondDot + 1);
    if (!BASE64URL.test(signaturePart)) return false;
    // Compared as canonical base64url text: a signature whose unused low bits differ decodes to the
    // same bytes, and must not pass for the real one.
    const expected = Buffer.from(createHmac('sha256', key).update(token.slice(0, secondDot)).digest('base64url'));
    const given = Buffer.from(signaturePart);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
    const claims = decodeJson(token.slice(firstDot + 1, secondDot));
    if (!claims || claims.iss !== SHELL_ISSUER) return false;
    if (typeof claims.exp !== 'number') return false;
    if (claims.nbf !== undefined && typeof claims.nbf !== 'number') return false;
    if (claims.iat !== undefined && typeof claims.iat !== 'number') return false;
    const times: TimeClaims = { exp: claims.exp, nbf: claims.nbf as number | undefined, iat: claims.iat as number | undefined };
    verified.set(token, times);
    return timely(times, nowSeconds);
  };
}

/** One-off verification (tests, tools); the strategy keeps a verifier per secret. */
export function verifyShellJwt(token: string, secret: string, nowSeconds: number): boolean {
  return createShellJwtVerifier(secret)(token, nowSeconds);
}
