import { z, definePlugin, generatePepper, PEPPER_RULE } from 'gatehouse';
import { createOauthProvider } from './migrations/20261204000000_create_oauth_provider.js';
import { ProviderRepository } from './repository.js';
import { SessionsService } from './sessions.js';
import { ProviderService } from './provider.js';
import { sessionStrategy } from './strategy.js';
import { authorizationRoutes, authorizedApplicationRoutes, deviceRoutes, sessionRoutes } from './web-routes.js';
import { discoveryDocument, protocolRoutes } from './protocol-routes.js';
import { bearerResolver } from './bearer.js';
import type { OauthProviderServices } from './services.js';

const config = z.object({
  secretFile: z
    .string()
    .default('.gatehouse_oauth_provider_secret')
    .describe('Secret file signing session cookies and CSRF tokens and peppering session, code and token digests (relative to dataDir; generated with mode 0600 when absent).'),
  sessionIdleTimeoutMinutes: z.number().int().min(1).default(10_080).describe('A browser session ends after this many minutes without a request (GitLab\'s session_expire_delay: one week).'),
  sessionAbsoluteTimeoutHours: z.number().int().min(1).default(720).describe('A browser session ends this many hours after sign-in, however active.'),
  maxLoginAttempts: z.number().int().min(1).default(10).describe('Failed sign-ins in a row that lock an account (GitLab\'s max_login_attempts).'),
  lockoutMinutes: z.number().int().min(1).default(10).describe('How long a locked account stays locked (failed_login_attempts_unlock_period_in_minutes).'),
  signInRateLimit: z.number().int().min(1).default(30).describe('Sign-in attempts allowed per client IP per minute.'),
  accessTokenExpiresIn: z.number().int().min(60).default(7200).describe('Lifetime of OAuth access tokens, in seconds (oauth_access_token_expires_in).'),
  authorizationCodeExpiresIn: z.number().int().min(10).default(600).describe('Lifetime of authorization codes, in seconds.'),
  deviceCodeExpiresIn: z.number().int().min(10).default(300).describe('Lifetime of device codes, in seconds.'),
  devicePollingInterval: z.number().int().min(1).default(5).describe('Seconds a device must wait between polls (faster polls get slow_down).'),
  idTokenExpiresIn: z.number().int().min(10).default(120).describe('Lifetime of OpenID Connect ID tokens, in seconds.'),
  requirePkceForPublicClients: z
    .boolean()
    .default(true)
    .describe('Refuse authorization requests of public (non-confidential) applications without PKCE, as OAuth 2.1 asks (GitLab does not).'),
  tokenCacheSize: z.number().int().min(0).default(10_000).describe('How many resolved OAuth access tokens to keep in memory.'),
  tokenCacheTtlMs: z
    .number()
    .int()
    .min(1)
    .default(10_000)
    .describe('Longest time a cached OAuth access token may go unchecked against the database; revocation invalidates at once (on every instance with Redis).'),
});

export const oauthProviderPlugin = definePlugin({
  name: 'oauth-provider',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'OAuth 2 / OpenID Connect provider at GitLab\'s paths: sign-in pages, authorization, tokens, device flow.',
  dependsOn: ['directory', 'tokens', 'oauth-applications'],
  config,
  migrations: { '20261204000000_create_oauth_provider': createOauthProvider },
  services: (deps): OauthProviderServices => {
    const { config: settings } = deps;
    const secret = deps.secrets.ensure(settings.secretFile, generatePepper, PEPPER_RULE).trim();
    const repository = new ProviderRepository(deps.db);
    const directory = deps.plugins.directory;
    const applications = deps.plugins['oauth-applications'].applications;
    const externalUrl = deps.app.externalUrl.replace(/\/+$/, '');
    const sessions = new SessionsService(repository, directory, deps.clock, secret, {
      idleTimeoutMinutes: settings.sessionIdleTimeoutMinutes,
      absoluteTimeoutHours: settings.sessionAbsoluteTimeoutHours,
      maxLoginAttempts: settings.maxLoginAttempts,
      lockoutMinutes: settings.lockoutMinutes,
      secureCookies: externalUrl.startsWith('https:'),
    });
    const provider = new ProviderService(repository, deps.db, applications, directory, deps.clock, deps.bus, secret, externalUrl, deps.instanceKeys, {
      accessTokenExpiresIn: settings.accessTokenExpiresIn,
      authorizationCodeExpiresIn: settings.authorizationCodeExpiresIn,
      deviceCodeExpiresIn: settings.deviceCodeExpiresIn,
      devicePollingInterval: settings.devicePollingInterval,
      idTokenExpiresIn: settings.idTokenExpiresIn,
      requirePkceForPublicClients: settings.requirePkceForPublicClients,
      principalCacheSize: settings.tokenCacheSize,
      principalCacheTtlMs: settings.tokenCacheTtlMs,
    });
    // The complete document, in doorkeeper-openid_connect's field order; core's fields are among them.
    deps.discovery.extend((document, issuer) => ({ ...discoveryDocument(issuer), ...document }));
    // Renewing an application's secret or deleting it ends its tokens at once, on every instance.
    applications.onChange(async (event) => {
      if (event.type === 'deleted' || event.type === 'secret-renewed') await provider.revokeApplication(event.application.id, event.type === 'deleted');
    });
    deps.plugins.tokens.tokens.useBearerResolver(bearerResolver(provider));
    return { sessions, provider, externalUrl };
  },
  authStrategies: {
    session: (services) => sessionStrategy(services.sessions),
  },
  routes: [...sessionRoutes, ...authorizationRoutes, ...authorizedApplicationRoutes, ...deviceRoutes, ...protocolRoutes],
});
