import { createHash } from 'node:crypto';

/** An OpenSSH public key, parsed and checked. */
export interface SshPublicKey {
  type: string;
  /** The base64 key blob (second field of an authorized_keys line). */
  blob: string;
  comment: string;
  /** SHA-256 of the blob, base64 without padding (as `ssh-keygen -l` prints after `SHA256:`). */
  fingerprintSha256: string;
  /** MD5 of the blob as `ssh-keygen -E md5` prints it after `MD5:` (16 colon-separated hex pairs). */
  fingerprintMd5: string;
  /** `<type> <blob>`: the key without its comment. */
  canonical: string;
}

/** Key types GitLab accepts, with the curve/length check each needs. */
const KEY_TYPES = new Set([
  'ssh-rsa',
  'ssh-dss',
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ecdsa-sha2-nistp256@openssh.com',
  'sk-ssh-ed25519@openssh.com',
]);

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Reads the SSH wire format's length-prefixed strings. */
function readFields(blob: Buffer, count: number): Buffer[] | undefined {
  const fields: Buffer[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    if (offset + 4 > blob.length) return undefined;
    const length = blob.readUInt32BE(offset);
    offset += 4;
    if (offset + length > blob.length) return undefined;
    fields.push(blob.subarray(offset, offset + length));
    offset += length;
  }
  return offset === blob.length ? fields : undefined;
}

const FIELD_COUNT = new Map<string, number>(Object.entries({
  'ssh-rsa': 3, // type, e, n
  'ssh-dss': 5, // type, p, q, g, y
  'ssh-ed25519': 2, // type, key
  'ecdsa-sha2-nistp256': 3, // type, curve, point
  'ecdsa-sha2-nistp384': 3,
  'ecdsa-sha2-nistp521': 3,
  'sk-ecdsa-sha2-nistp256@openssh.com': 4, // type, curve, point, application
  'sk-ssh-ed25519@openssh.com': 3, // type, key, application
}));

function structurallyValid(type: string, fields: Buffer[]): boolean {
  switch (type) {
    case 'ssh-rsa': {
      const modulus = fields[2][0] === 0 ? fields[2].subarray(1) : fields[2];
      return fields[1].length > 0 && modulus.length * 8 >= 1024;
    }
    case 'ssh-ed25519':
    case 'sk-ssh-ed25519@openssh.com':
      return fields[1].length === 32;
    case 'ecdsa-sha2-nistp256':
    case 'ecdsa-sha2-nistp384':
    case 'ecdsa-sha2-nistp521':
    case 'sk-ecdsa-sha2-nistp256@openssh.com':
      return fields[1].toString() === type.replace(/^(sk-)?ecdsa-sha2-/, '').replace('@openssh.com', '') && fields[2].length > 0;
    default:
      return fields.every((f) => f.length > 0);
  }
}

/** SHA-256 fingerprint of a base64 key blob. */
export const fingerprintOfBlob = (blob: Buffer) => createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');

/** MD5 fingerprint of a key blob: 16 lower-case hex pairs joined by colons. */
export const md5FingerprintOfBlob = (blob: Buffer) => createHash('md5').update(blob).digest('hex').replace(/(..)(?!$)/g, '$1:');

/** Decodes a bare base64 key blob (what GitLab Shell sends to `/internal/authorized_keys`), or undefined. */
export function parseKeyBlob(base64: string): { type: string; blob: Buffer } | undefined {
  const trimmed = base64.trim();
  if (!BASE64.test(trimmed)) return undefined;
  const blob = Buffer.from(trimmed, 'base64');
  if (blob.toString('base64') !== trimmed.replace(/=+$/, '') + '='.repeat((4 - (trimmed.replace(/=+$/, '').length % 4)) % 4)) return undefined;
  if (blob.length < 4) return undefined;
  const typeLength = blob.readUInt32BE(0);
  if (4 + typeLength > blob.length) return undefined;
  const type = blob.subarray(4, 4 + typeLength).toString();
  const count = FIELD_COUNT.get(type);
  if (!KEY_TYPES.has(type) || !count) return undefined;
  const fields = readFields(blob, count);
  if (!fields || !structurallyValid(type, fields)) return undefined;
  return { type, blob };
}

/**
 * Parses an authorized_keys-style line (`ssh-ed25519 AAAA… comment`). Returns undefined when it is not
 * a well-formed key of a supported type whose blob agrees with its declared type.
 */
export function parseSshPublicKey(text: string): SshPublicKey | undefined {
  const parts = text.trim().split(/\s+/);
  if (parts.length < 2) return undefined;
  const [type, blob, ...comment] = parts;
  const decoded = parseKeyBlob(blob);
  if (!decoded || decoded.type !== type) return undefined;
  return {
    type,
    blob,
    comment: comment.join(' '),
    fingerprintSha256: fingerprintOfBlob(decoded.blob),
    fingerprintMd5: md5FingerprintOfBlob(decoded.blob),
    canonical: `${type} ${blob}`,
  };
}
