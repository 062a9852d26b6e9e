import { z, definePlugin, generatePepper, PEPPER_RULE } from 'gatehouse';
import { createPersonalAccessTokens } from './migrations/20261122000100_create_personal_access_tokens.js';
import { TokensService } from './service.js';
import { adminStrategy, optionalTokenStrategy, tokenStrategy } from './strategy.js';
import { tokenRoutes } from './routes.js';
import { bootstrapRoot } from './bootstrap.js';
import type { TokensServices } from './services.js';

const config = z.object({
  pepperFile: z
    .string()
    .default('.gatehouse_token_pepper')
    .describe('Secret file peppering token digests (relative to dataDir; generated with mode 0600 when absent).'),
  impersonationEnabled: z.boolean().default(true).describe('Accept impersonation tokens.'),
  adminMode: z
    .boolean()
    .default(false)
    .describe('Require the admin_mode scope on a token before it gets admin powers (GitLab\'s admin mode).'),
  principalCacheSize: z.number().int().min(0).default(10_000).describe('How many resolved tokens to keep in memory.'),
  principalCacheTtlMs: z
    .number()
    .int()
    .min(1)
    .default(10_000)
    .describe(
      'Longest time a cached token may go unchecked against the database. Revocation, rotation and user changes invalidate at once on this instance, and on all instances when Redis is configured; this bounds staleness between instances without Redis (or while it is down).',
    ),
});

export const tokensPlugin = definePlugin({
  name: 'tokens',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'Personal access and impersonation tokens; provides the token and admin auth strategies.',
  dependsOn: ['directory'],
  config,
  migrations: { '20261122000100_create_personal_access_tokens': createPersonalAccessTokens },
  services: (deps): TokensServices => {
    const tokens = new TokensService({
      db: deps.db,
      clock: deps.clock,
      bus: deps.bus,
      pepper: deps.secrets.ensure(deps.config.pepperFile, generatePepper, PEPPER_RULE),
      directory: deps.plugins.directory,
      cache: { max: Math.max(1, deps.config.principalCacheSize), ttlMs: deps.config.principalCacheTtlMs },
    });
    return {
      tokens,
      directory: deps.plugins.directory,
      externalUrl: deps.app.externalUrl,
      rootToken: deps.app.rootToken,
      strategy: {
        service: tokens,
        externalUrl: deps.app.externalUrl,
        impersonationEnabled: deps.config.impersonationEnabled,
        adminMode: deps.config.adminMode,
      },
    };
  },
  authStrategies: {
    token: (services) => tokenStrategy(services.strategy),
    admin: (services) => adminStrategy(services.strategy),
    optional_token: (services) => optionalTokenStrategy(services.strategy),
  },
  bootstrap: bootstrapRoot,
  routes: tokenRoutes,
});
