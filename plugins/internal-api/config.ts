import { z } from 'gatehouse';

/** The internal-api plugin's configuration slice (`plugins.internal-api.*`). */
export const internalApiConfig = z.object({
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

export type InternalApiConfig = z.output<typeof internalApiConfig> & { enabled: boolean };
