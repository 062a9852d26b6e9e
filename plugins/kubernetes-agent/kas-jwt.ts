import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

/** The issuer KAS puts in its `Gitlab-Kas-Api-Request` JWTs, and the audience it addresses. */
export const KAS_ISSUER = 'gitlab-kas';
export const KAS_AUDIENCE = 'gitlab';
/** GitLab's KAS secret is 32 random bytes (`Gitlab::Kas::SECRET_LENGTH`). */
export const KAS_SECRET_BYTES = 32;

const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** Ruby's `Base64.strict_decode64`: canonical padded base64, no whitespace, no line breaks. */
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes the KAS secret file's contents as GitLab does (`Base64.strict_decode64` of the file, the
 * trailing newline already removed): anything but strict base64 of exactly 32 bytes is refused, so a
 * wrong file stops the gateway at boot instead of failing every KAS request later. Undefined when invalid.
 */
export function decodeKasSecret(contents: string): Buffer | undefined {
  if (!STRICT_BASE64.test(contents)) return undefined;
  const key = Buffer.from(contents, 'base64');
  // Non-canonical trailing bits decode too; strict decoding rejects them.
  if (key.toString('base64') !== contents || key.length !== KAS_SECRET_BYTES) return undefined;
  return key;
}

function decodeJson(segment: string): Record<string, unknown> | undefined {
  if (!BASE64URL.test(segment)) return undefined;
  try {
    const value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const audienceMatches = (aud: unknown) => aud === KAS_AUDIENCE || (Array.isArray(aud) && aud.includes(KAS_AUDIENCE));

/**
 * Verifies a `Gitlab-Kas-Api-Request` JWT under GitLab's rules (`Gitlab::Kas.verify_api_request`):
 * HS256 only (the header must say so: no `none`, no algorithm confusion), `iss` must be `gitlab-kas`,
 * `aud` must be `gitlab` or an array holding it, `exp` and `nbf` are checked only when present and with
 * no leeway (ruby-jwt: expired once `exp <= now`, immature while `nbf > now`), `iat` is not checked.
 *
 * node:crypto's HMAC rather than jose, as for the shell JWT: the same rules at a fraction of the cost,
 * the signature compared in constant time on equal-length values.
 */
export function createKasJwtVerifier(secret: Buffer): (token: string, nowSeconds: number) => boolean {
  const key: KeyObject = createSecretKey(secret);
  return function verify(token, nowSeconds) {
    const parts = token.split('.');
    if (parts.length !== 3) return false;
    const [headerPart, payloadPart, signaturePart] = parts;
    const header = decodeJson(headerPart);
    if (!header || header.alg !== 'HS256' || 'crit' in header) return false;
    if (!BASE64URL.test(signaturePart)) return false;
    // Compared as canonical base64url text: a signature with different unused low bits decodes to the
    // same bytes and must not pass for the real one.
    const expected = Buffer.from(createHmac('sha256', key).update(`${headerPart}.${payloadPart}`).digest('base64url'));
    const given = Buffer.from(signaturePart);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
    const claims = decodeJson(payloadPart);
    if (!claims || claims.iss !== KAS_ISSUER || !audienceMatches(claims.aud)) return false;
    if (claims.exp !== undefined && (typeof claims.exp !== 'number' || claims.exp <= nowSeconds)) return false;
    if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf > nowSeconds)) return false;
    return true;
  };
}
