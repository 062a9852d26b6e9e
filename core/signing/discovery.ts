/**
 * The OpenID discovery document (`/.well-known/openid-configuration`). Core serves what every verifier
 * of gatehouse's tokens needs; a plugin that is an authorization server adds its endpoints to it.
 */
export interface DiscoveryDocument {
  issuer: string;
  jwks_uri: string;
  subject_types_supported: readonly string[];
  id_token_signing_alg_values_supported: readonly string[];
  [field: string]: unknown;
}

/** Turns the document built so far into the next one; `issuer` is the gateway's external URL. */
export type DiscoveryExtension = (document: DiscoveryDocument, issuer: string) => DiscoveryDocument;

/** What plugins get in their deps: a way to add to the discovery document, while their services are built. */
export interface Discovery {
  extend(extension: DiscoveryExtension): void;
}

/** The discovery facility core holds: plugins extend it at boot, the route serves the result. */
export interface DiscoveryBuilder extends Discovery {
  /** The document with every extension applied, in plugin load order; built on first call, then frozen. */
  document(): Readonly<DiscoveryDocument>;
}

const EXTENDED_TOO_LATE = 'the discovery document is already served: extend it while building services';

/** What a verifier of gatehouse's tokens needs: the issuer and where its keys are. */
export function baseDiscoveryDocument(issuer: string): DiscoveryDocument {
  return {
    issuer,
    jwks_uri: `${issuer}/oauth/discovery/keys`,
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
  };
}

export function createDiscovery(issuer: string): DiscoveryBuilder {
  const extensions: DiscoveryExtension[] = [];
  let built: Readonly<DiscoveryDocument> | undefined;
  return {
    extend(extension) {
      if (built) throw new Error(EXTENDED_TOO_LATE);
      extensions.push(extension);
    },
    document: () => (built ??= Object.freeze(extensions.reduce((document, extend) => extend(document, issuer), baseDiscoveryDocument(issuer)))),
  };
}
