import type { AiGatewayUpstream } from './proxy.js';
import type { CodeSuggestionsService } from './service.js';
import type { GraphqlEndpoint } from './graphql.js';

/** The OpenID discovery document served at `/.well-known/openid-configuration`, given the issuer. */
export type DiscoveryDocument = (issuer: string) => Record<string, unknown>;

/** What the plugin holds: the service, the AI gateway upstream and the GraphQL endpoint. */
export interface CodeSuggestionsServices {
  service: CodeSuggestionsService;
  upstream: AiGatewayUpstream;
  graphql: GraphqlEndpoint;
  /** The instance's signing key (the one `/oauth/discovery/keys` publishes first), for ID tokens. */
  signingKey: { pem: string; kid: string };
  /**
   * The discovery document: the minimal one for verifiers of gatehouse's tokens, unless a plugin that
   * is an authorization server (oauth-provider) replaces it with its complete document at boot.
   */
  discovery: { document?: DiscoveryDocument };
}

declare module 'gatehouse' {
  interface PluginServices {
    'code-suggestions': CodeSuggestionsServices;
  }
}
