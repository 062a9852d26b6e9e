import type { ApplicationsService } from './service.js';

/** What the oauth-applications plugin exports: the service (the OAuth provider authenticates clients through it). */
export interface OauthApplicationsServices {
  applications: ApplicationsService;
  externalUrl: string;
}

declare module 'gatehouse' {
  interface PluginServices {
    'oauth-applications': OauthApplicationsServices;
  }
}
