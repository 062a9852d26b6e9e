import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { SecretRule, SecretStore } from 'gatehouse';

/** A public signing key as the JWKS publishes it (GitLab's `jwks_controller` field order). */
export interface PublicJwk {
  kty: 'RSA';
  kid: string;
  e: string;
  n: string;
  use: 'sig';
  alg: 'RS256';
}

/** The key gatehouse signs with, and every key a verifier may meet (the current one first). */
export interface SigningKeys {
  /** PKCS#8 PEM of the current private key (jose imports it on first use). */
  currentPem: string;
  currentKid: string;
  /** The current key, then the older ones still trusted, without duplicates. */
  published: readonly PublicJwk[];
}

const RSA_BITS = 2048;

/** A fresh RSA key as PKCS#8 PEM, as GitLab's `openid_connect_signing_key` is generated. */
export function generateSigningKeyPem(): string {
  return generateKeyPairSync('rsa', { modulusLength: RSA_BITS }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** Why `read(pem)` is not an RSA key of at least RSA_BITS bits, or undefined when it is. */
function rsaKeyProblem(pem: string, read: (pem: string) => KeyObject, what: string): string | undefined {
  let key: KeyObject;
  try {
    key = read(pem);
  } catch {
    return `must hold ${what} (PEM)`;
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  return key.asymmetricKeyType === 'rsa' && bits >= RSA_BITS ? undefined : `must hold ${what} of at least ${RSA_BITS} bits`;
}

/** The current signing key file: an RSA private key, as gatehouse generates it. */
const CURRENT_KEY_RULE: SecretRule = { check: (pem) => rsaKeyProblem(pem, createPrivateKey, 'an RSA private key') };
/** An older key file: the private key or only its public half. */
const PREVIOUS_KEY_RULE: SecretRule = { check: (pem) => rsaKeyProblem(pem, createPublicKey, 'an RSA key') };

/** RFC 7638 thumbprint (SHA-256, base64url) of an RSA public key: `{"e","kty","n"}` in that order. */
export function rsaThumbprint(publicKey: KeyObject): { kid: string; e: string; n: string } {
  const { e, n } = publicKey.export({ format: 'jwk' }) as { e: string; n: string };
  const kid = createHash('sha256').update(JSON.stringify({ e, kty: 'RSA', n })).digest('base64url');
  return { kid, e, n };
}

function publicJwk(publicKey: KeyObject): PublicJwk {
  if (publicKey.asymmetricKeyType !== 'rsa') throw new Error('Code Suggestions signing keys must be RSA keys');
  const { kid, e, n } = rsaThumbprint(publicKey);
  return { kty: 'RSA', kid, e, n, use: 'sig', alg: 'RS256' };
}

/**
 * The signing key from its file (generated, mode 0600, on first boot) and the older keys still
 * published so tokens signed before a rotation keep verifying. Older key files may hold the private
 * key or only the public key; a missing one is a boot error, never generated (a new key there would
 * verify nothing). Rotation: publish the new key first (in `previousSigningKeyFiles`, for the AI
 * gateway's 24-hour JWKS cache), then name it `signingKeyFile` and move the old file into
 * `previousSigningKeyFiles`.
 */
export function loadSigningKeys(secrets: SecretStore, currentFile: string, previousFiles: readonly string[]): SigningKeys {
  const currentPem = secrets.ensure(currentFile, generateSigningKeyPem, CURRENT_KEY_RULE);
  const current = publicJwk(createPublicKey(createPrivateKey(currentPem)));
  const published: PublicJwk[] = [current];
  for (const file of previousFiles) {
    const pem = secrets.ensure(file, () => {
      throw new Error(`previous Code Suggestions signing key file ${secrets.pathOf(file)} does not exist`);
    }, PREVIOUS_KEY_RULE);
    const jwk = publicJwk(createPublicKey(pem));
    if (!published.some((known) => known.kid === jwk.kid)) published.push(jwk);
  }
  return { currentPem, currentKid: current.kid, published: Object.freeze(published) };
}
