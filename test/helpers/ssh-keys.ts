import { createHash, generateKeyPairSync } from 'node:crypto';

/**
 * Real OpenSSH public keys for tests, built from node:crypto key pairs in the SSH wire format
 * (RFC 4253 §6.6, RFC 8709): length-prefixed strings and mpints, base64-encoded.
 */
export interface TestSshKey {
  /** The authorized_keys line: `<type> <base64 blob>[ <comment>]`. */
  line: string;
  type: string;
  /** The base64 blob (the second field), as GitLab Shell sends it to `/internal/authorized_keys`. */
  blob: string;
  /** SHA-256 of the blob, base64 without padding (what `ssh-keygen -l` prints after `SHA256:`). */
  fingerprintSha256: string;
  /** MD5 of the blob as `ssh-keygen -E md5 -l` prints it after `MD5:` (16 colon-separated hex pairs). */
  fingerprintMd5: string;
}

/** SSH `string`: uint32 length, then the bytes. */
function sshString(value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** SSH `mpint` of a positive big-endian magnitude: leading zeros dropped, a 0x00 added when the high bit is set. */
function sshMpint(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  return sshString(trimmed[0] & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function toKey(type: string, blob: Buffer, comment?: string): TestSshKey {
  const base64 = blob.toString('base64');
  return {
    line: comment ? `${type} ${base64} ${comment}` : `${type} ${base64}`,
    type,
    blob: base64,
    fingerprintSha256: createHash('sha256').update(blob).digest('base64').replace(/=+$/, ''),
    fingerprintMd5: createHash('md5').update(blob).digest('hex').replace(/(..)(?!$)/g, '$1:'),
  };
}

/** A fresh ed25519 key. The raw 32-byte public key is the tail of its SPKI DER encoding. */
export function makeEd25519Key(comment?: string): TestSshKey {
  const { publicKey } = generateKeyPairSync('ed25519');
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const raw = spki.subarray(spki.length - 32);
  return toKey('ssh-ed25519', Buffer.concat([sshString('ssh-ed25519'), sshString(raw)]), comment);
}

/** A fresh RSA key of `bits` bits: blob = string "ssh-rsa", mpint e, mpint n (from the JWK export). */
export function makeRsaKey(bits: number, comment?: string): TestSshKey {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const jwk = publicKey.export({ format: 'jwk' });
  const e = Buffer.from(jwk.e!, 'base64url');
  const n = Buffer.from(jwk.n!, 'base64url');
  return toKey('ssh-rsa', Buffer.concat([sshString('ssh-rsa'), sshMpint(e), sshMpint(n)]), comment);
}
