import type { Redis } from 'ioredis';
import type { Logger, Clock, FlagResolver, PluginDeps } from 'gatehouse';
import type { InternalApiConfig } from './config.js';
import type { DirectoryServices, TokensServices } from './types.js';

/**
 * What the internal API service is built from, and all its parts (git access, accounts, push hooks)
 * read of it: a module of its own so the parts need not import the service that builds them.
 */
export interface InternalApiServiceOptions {
  config: InternalApiConfig;
  shellSecret: string;
  gitalyToken: string;
  lfsSecret: string;
  directory: DirectoryServices;
  tokens: TokensServices;
  flags: FlagResolver;
  clock: Clock;
  redis?: Redis;
  app: PluginDeps['app'];
  logger: Logger;
}
