import { definePlugin, randomHex } from 'gatehouse';
import { internalApiConfig } from './config.js';
import { shellStrategy } from './strategy.js';
import { InternalApiService } from './service.js';
import { internalApiRoutes } from './routes.js';
import type { InternalApiServices } from './services.js';

/** GitLab writes `SecureRandom.hex(16)` into .gitlab_shell_secret: 32 characters. */
const SHELL_SECRET_MIN_LENGTH = 32;
/** What gatehouse generates for the LFS signing secret: 32 random bytes, hex. */
const LFS_SECRET_MIN_LENGTH = 64;

export const internalApiPlugin = definePlugin({
  name: 'internal-api',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'GitLab\'s internal API for GitLab Shell and Gitaly; provides the gitlab_shell auth strategy.',
  dependsOn: ['directory', 'tokens'],
  config: internalApiConfig,
  flags: [
    {
      name: 'internal_api_ssh_git_access',
      kind: 'ops',
      default: true,
      description: 'Git over SSH: off makes /internal/allowed answer 401 "Git access over SSH is not allowed".',
    },
    {
      name: 'internal_api_workhorse_circuit_breaker',
      kind: 'ops',
      default: true,
      description:
        'Answers to GitLab Shell\'s SSH /internal/allowed checks carry Enable-Workhorse-Circuit-Breaker: true, so a GitLab Workhorse in front counts their 429s.',
    },
  ],
  services: (deps): InternalApiServices => {
    const shellSecret = deps.secrets.ensure(deps.config.secretFile, () => randomHex(16), { minLength: SHELL_SECRET_MIN_LENGTH }).trim();
    return {
      internal: new InternalApiService({
        config: deps.config,
        shellSecret,
        gitalyToken: deps.config.gitalyTokenFile ? deps.secrets.ensure(deps.config.gitalyTokenFile, () => randomHex(16)).trim() : '',
        lfsSecret: deps.secrets.ensure(deps.config.lfsSecretFile, () => randomHex(32), { minLength: LFS_SECRET_MIN_LENGTH }),
        directory: deps.plugins.directory,
        tokens: deps.plugins.tokens,
        flags: deps.flags,
        clock: deps.clock,
        redis: deps.redis,
        app: deps.app,
        logger: deps.logger,
      }),
    };
  },
  authStrategies: {
    gitlab_shell: (services) =>
      shellStrategy({
        secret: services.internal.shellSecret,
        legacySecretAuth: services.internal.config.legacySecretAuth,
        clock: services.internal.clock,
      }),
  },
  routes: internalApiRoutes,
});
