import { createHash, hash, timingSafeEqual, scrypt as scryptCb, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCb) as (password: string, salt: Buffer, keylen: number, options: object) => Promise<Buffer>;

/**
 * Peppered SHA-256, base64: how tokens and recovery codes are stored (digest only, never the value).
 * One-shot `crypto.hash`: on the authentication hot path it costs a third of a Hash object.
 */
export const pepperedDigest = (value: string, pepper: string) => hash('sha256', value + pepper, 'base64');

/** Constant-time equality of two strings of any length: compares their SHA-256 digests. */
export function constantTimeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 64 };

/** scrypt password hash: `scrypt$N$r$p$<salt b64>$<hash b64>`. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64'), hash.toString('base64')].join('$');
}

export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  const parts = stored?.split('$');
  if (!parts || parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, N, r, p, salt, expected] = parts;
  const expectedBuf = Buffer.from(expected, 'base64');
  const actual = await scrypt(password, Buffer.from(salt, 'base64'), expectedBuf.length, { N: Number(N), r: Number(r), p: Number(p) });
  return timingSafeEqual(actual, expectedBuf);
}

/** A random secret of `bytes` bytes, hex. */
export const randomHex = (bytes: number) => randomBytes(bytes).toString('hex');

const PEPPER_BYTES = 32;
/** A new pepper file's contents: 32 random bytes, hex. */
export const generatePepper = () => randomHex(PEPPER_BYTES);
/** A pepper file must hold at least what gatehouse generates (64 hex characters). */
export const PEPPER_RULE = Object.freeze({ minLength: PEPPER_BYTES * 2 });
