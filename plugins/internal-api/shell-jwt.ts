import { createHmac, timingSafeEqual } from 'node:crypto';

/** The issuer GitLab Shell and Gitaly put in their internal-API JWTs. */
export const SHELL_ISSUER = 'gitlab-shell';
/** GitLab verifies `exp` and `nbf` with 60 seconds of leeway. */
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
 * secret, `iss` must be `gitlab-shell`, `exp`/`nbf` are checked with 60 s leeway when present, and
 * `iat` is not checked.
 *
 * node:crypto's HMAC rather than jose: jose runs HS256 through WebCrypto, which costs more than the
 * whole `/allowed` request it guards; the rules are the same, and the signature is compared in
 * constant time on equal-length digests.
 */
export function verifyShellJwt(token: string, secret: string, nowSeconds: number): boolean {
  const parts = token.split('.');
  if (parts.length !== 3) return false;
  const [headerPart, payloadPart, signaturePart] = parts;
  const header = decodeJson(headerPart);
  if (!header || header.alg !== 'HS256' || 'crit' in header) return false;
  if (!BASE64URL.test(signaturePart)) return false;
  const expected = createHmac('sha256', secret).update(`${headerPart}.${payloadPart}`).digest();
  const given = Buffer.from(signaturePart, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
  const claims = decodeJson(payloadPart);
  if (!claims || claims.iss !== SHELL_ISSUER) return false;
  // ruby-jwt's rules: expired once `exp <= now - leeway`, immature while `nbf > now + leeway`.
  if (claims.exp !== undefined && (typeof claims.exp !== 'number' || nowSeconds >= claims.exp + LEEWAY_SECONDS)) return false;
  if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || nowSeconds < claims.nbf - LEEWAY_SECONDS)) return false;
  return true;
}
