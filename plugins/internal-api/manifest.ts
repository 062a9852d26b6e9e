import { z } from 'zod';
import { definePlugin } from '../../core/plugins/types.js';
import { randomHex } from '../../core/util/secrets.js';
import { shellStrategy } from './strategy.js';
import { InternalApiService } from './service.js';
import { internalApiRoutes } from './routes.js';

/** GitLab writes `SecureRandom.hex(16)` into .gitlab_shell_secret: 32 characters. */
const SHELL_SECRET_MIN_LENGTH = 32;
/** What gatehouse generates for the LFS signing secret: 32 random bytes, hex. */
const LFS_SECRET_MIN_LENGTH = 64;

const config = z.object({
  secretFile: z
    .string()
    .default('.gitlab_shell_secret')
    .describe(
      'The shell secret file in GitLab\'s .gitlab_shell_secret format (relative to dataDir; generated when absent). Point GitLab Shell\'s secret_file at the same file.',
    ),
  legacySecretAuth: z
    .boolean()
    .default(true)
    .describe('Also accept the original internal API\'s Gitlab-Shared-Secret header and secret_token param.'),
  gitAccessProtocol: z
    .enum(['all', 'ssh', 'http'])
    .default('all')
    .describe('Git protocols allowed (GitLab\'s enabled_git_access_protocol); web is always allowed.'),
  allowedRateLimit: z
    .number()
    .int()
    .positive()
    .default(600)
    .describe('Requests per minute to /internal/allowed per action, project and actor (GitLab\'s gitlab_shell_operation_limit).'),
  receiveMaxInputSizeMb: z
    .number()
    .int()
    .min(0)
    .default(0)
    .describe('Largest push in MiB, passed to Gitaly as receive.maxInputSize (0: no limit).'),
  gitalyAddress: z.string().min(1).default('tcp://127.0.0.1:8075').describe('Gitaly address handed to GitLab Shell in /allowed.'),
  gitalyTokenFile: z
    .string()
    .optional()
    .describe('File holding the Gitaly token handed to GitLab Shell (relative to dataDir); without it the token is empty.'),
  lfsSecretFile: z
    .string()
    .default('.gatehouse_lfs_secret')
    .describe('Secret file signing LFS tokens (relative to dataDir; generated when absent).'),
});

export type InternalApiConfig = z.output<typeof config> & { enabled: boolean };

/** What internal-api exports: the service (e.g. for verifying the LFS tokens it issues). */
export interface InternalApiServices {
  internal: InternalApiService;
}

declare module '../../core/plugins/types.js' {
  interface PluginServices {
    'internal-api': InternalApiServices;
  }
}

export const internalApiPlugin = definePlugin({
  name: 'internal-api',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'GitLab\'s internal API for GitLab Shell and Gitaly; provides the gitlab_shell auth strategy.',
  dependsOn: ['directory', 'tokens'],
  config,
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
