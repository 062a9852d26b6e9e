import type { ProviderService, ValidToken } from './provider.js';
import type { SessionsService, SignedInSession } from './sessions.js';

/** What the oauth-provider plugin holds (and exports): the browser sessions and the authorization server. */
export interface OauthProviderServices {
  sessions: SessionsService;
  provider: ProviderService;
  externalUrl: string;
}

/** An OAuth access token as the API sees it: the row, the client it was issued to and its user. */
export type OauthCredential = ValidToken;

declare module 'gatehouse' {
  interface PluginServices {
    'oauth-provider': OauthProviderServices;
  }
  interface CredentialKinds {
    /** The `session` strategy's credential: the browser session and its user. */
    session: SignedInSession;
    /** An OAuth access token presented to the API. */
    oauth_access_token: OauthCredential;
  }
}
