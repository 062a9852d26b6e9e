import type { AccessToken } from './repository.js';
import type { DirectoryServices } from './types.js';
import type { TokenStrategyOptions } from './strategy.js';
import type { TokensService } from './service.js';

/** What the tokens plugin exports: the service (other plugins create tokens through it). */
export interface TokensServices {
  tokens: TokensService;
  strategy: TokenStrategyOptions;
  directory: DirectoryServices;
  externalUrl: string;
  rootToken?: string;
}

declare module 'gatehouse' {
  interface PluginServices {
    tokens: TokensServices;
  }
  /** The `token` and `admin` strategies' credentials: the token's row, as the principal cache holds it. */
  interface CredentialKinds {
    personal_access_token: AccessToken;
    impersonation_token: AccessToken;
  }
}
