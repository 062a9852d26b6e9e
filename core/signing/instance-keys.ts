import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { SecretRule, SecretStore } from '../config/secrets.js';

/** A public signing key as the JWKS publishes it (GitLab's `jwks_controller` field order). */
export interface PublicJwk {
  kty: 'RSA';
  kid: string;
  e: string;
  n: string;
  use: 'sig';
  alg: 'RS256';
}

/**
 * The instance key: the RSA key gatehouse signs its JWTs with (AI gateway tokens, identity tokens for
 * proxied services, ID tokens), and every key a verifier may meet — what `/oauth/discovery/keys` serves.
 * Core loads it at boot (`signing.keyFile`, `signing.previousKeyFiles`) and hands it to every plugin as
 * `deps.instanceKeys`.
 */
export interface InstanceKeys {
  /** PKCS#8 PEM of the current private key. */
  readonly currentPem: string;
  readonly currentKid: string;
  /** The current key, then the older ones still trusted, without duplicates. */
  readonly published: readonly PublicJwk[];
  /** The JWKS document (`{"keys":[…]}`). */
  jwks(): { keys: readonly PublicJwk[] };
  /**
   * Signs `claims` as a compact RS256 JWT (`typ: JWT`, `kid` of the current key). The caller sets every
   * claim (`iss`, `aud`, `sub`, `iat`, `exp`, …): nothing is added. jose is loaded on the first signing.
   */
  sign(claims: Record<string, unknown>): Promise<string>;
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
  if (publicKey.asymmetricKeyType !== 'rsa') throw new Error('signing keys must be RSA keys');
  const { kid, e, n } = rsaThumbprint(publicKey);
  return { kty: 'RSA', kid, e, n, use: 'sig', alg: 'RS256' };
}

type Signer = (claims: Record<string, unknown>) => Promise<string>;

/**
 * The instance key from its file (generated, mode 0600, on first boot) and the older keys still
 * published so tokens signed before a rotation keep verifying. Older key files may hold the private
 * key or only the public key; a missing one is a boot error, never generated (a new key there would
 * verify nothing). Rotation: publish the new key first (among the previous files, for verifiers'
 * JWKS caches), then make it the current file and move the old one among the previous files.
 */
export function loadInstanceKeys(
  secrets: SecretStore,
  currentFile: string,
  previousFiles: readonly string[] = [],
): InstanceKeys {
  const currentPem = secrets.ensure(currentFile, generateSigningKeyPem, CURRENT_KEY_RULE);
  const current = publicJwk(createPublicKey(createPrivateKey(currentPem)));
  const published: PublicJwk[] = [current];
  for (const file of previousFiles) {
    const pem = secrets.ensure(file, () => {
      throw new Error(`previous signing key file ${secrets.pathOf(file)} does not exist`);
    }, PREVIOUS_KEY_RULE);
    const jwk = publicJwk(createPublicKey(pem));
    if (!published.some((known) => known.kid === jwk.kid)) published.push(jwk);
  }
  Object.freeze(published);
  const document = Object.freeze({ keys: published });
  let signer: Promise<Signer> | undefined;
  const loadSigner = () =>
    (signer ??= (async () => {
      const { SignJWT, importPKCS8 } = await import('jose');
      const key = await importPKCS8(currentPem, 'RS256');
      const header = { alg: 'RS256', typ: 'JWT', kid: current.kid } as const;
      return (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader(header).sign(key);
    })());
  return {
    currentPem,
    currentKid: current.kid,
    published,
    jwks: () => document,
    async sign(claims) {
      return (await loadSigner())(claims);
    },
  };
}
