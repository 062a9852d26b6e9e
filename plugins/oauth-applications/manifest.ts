import { z, definePlugin, generatePepper, PEPPER_RULE } from 'gatehouse';
import { createOauthApplications } from './migrations/20261201000000_create_oauth_applications.js';
import { addTrustedAndDeviceCode } from './migrations/20261204000000_add_trusted_and_device_code.js';
import { ApplicationsService } from './service.js';
import { oauthApplicationRoutes } from './routes.js';
import type { OauthApplicationsServices } from './services.js';

const config = z.object({
  secretPepperFile: z
    .string()
    .default('.gatehouse_oauth_application_pepper')
    .describe('Secret file peppering OAuth application secret digests (relative to dataDir; generated with mode 0600 when absent).'),
});

export const oauthApplicationsPlugin = definePlugin({
  name: 'oauth-applications',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'OAuth applications: users manage their own (/user/applications), admins the instance-wide ones (/applications).',
  dependsOn: ['directory', 'tokens'],
  config,
  migrations: {
    '20261201000000_create_oauth_applications': createOauthApplications,
    '20261204000000_add_trusted_and_device_code': addTrustedAndDeviceCode,
  },
  services: (deps): OauthApplicationsServices => ({
    applications: new ApplicationsService({
      db: deps.db,
      clock: deps.clock,
      pepper: deps.secrets.ensure(deps.config.secretPepperFile, generatePepper, PEPPER_RULE),
      tokenScopes: deps.plugins.tokens.tokens.availableScopes,
    }),
    externalUrl: deps.app.externalUrl,
  }),
  routes: oauthApplicationRoutes,
});
