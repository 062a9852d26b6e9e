import type { Redis } from 'ioredis';
import type { Logger, Clock, FlagResolver, PluginDeps } from 'gatehouse';
import type { InternalApiConfig } from './config.js';
import type { InternalApiServiceOptions } from './service-options.js';
import type { DirectoryServices, TokensServices } from './types.js';
import { GitAccess } from './git-access.js';
import { Accounts } from './accounts.js';
import { PushHooks } from './push-hooks.js';

/**
 * GitLab's internal API behaviour: git access checks, LFS tokens, recovery codes and tokens over SSH,
 * push hooks. Routes are thin; the rules live here.
 */
export class InternalApiService implements InternalApiServiceOptions {
  readonly config: InternalApiConfig;
  readonly shellSecret: string;
  readonly gitalyToken: string;
  readonly lfsSecret: string;
  readonly directory: DirectoryServices;
  readonly tokens: TokensServices;
  readonly flags: FlagResolver;
  readonly clock: Clock;
  readonly redis?: Redis;
  readonly app: PluginDeps['app'];
  readonly logger: Logger;
  readonly gitAccess: GitAccess;
  readonly accounts: Accounts;
  readonly pushHooks: PushHooks;

  constructor(options: InternalApiServiceOptions) {
    this.config = options.config;
    this.shellSecret = options.shellSecret;
    this.gitalyToken = options.gitalyToken;
    this.lfsSecret = options.lfsSecret;
    this.directory = options.directory;
    this.tokens = options.tokens;
    this.flags = options.flags;
    this.clock = options.clock;
    this.redis = options.redis;
    this.app = options.app;
    this.logger = options.logger;
    this.pushHooks = new PushHooks(this);
    this.gitAccess = new GitAccess(this, this.pushHooks);
    this.accounts = new Accounts(this);
  }
}
