import { UnauthorizedError, constantTimeEqual, type AuthStrategy, type AuthStrategyDocs, type Clock, type GatehouseContext, type Principal } from 'gatehouse';
import { createShellJwtVerifier } from './shell-jwt.js';

export const SHELL_JWT_HEADER = 'Gitlab-Shell-Api-Request';
export const LEGACY_SECRET_HEADER = 'Gitlab-Shared-Secret';

const SHELL_PRINCIPAL: Principal = Object.freeze({ kind: 'service', service: 'gitlab-shell' });

export interface ShellStrategyOptions {
  /** The shell secret, as read from the `.gitlab_shell_secret` file (whitespace trimmed). */
  secret: string;
  /** Accept the original internal API's `Gitlab-Shared-Secret` header and `secret_token` param. */
  legacySecretAuth: boolean;
  clock: Clock;
}

/** The legacy secret a request presents: the `secret_token` param wins over the base64 header. */
function legacySecret(ctx: GatehouseContext): string | undefined {
  const param = ctx.state.params.secret_token;
  if (typeof param === 'string') return param.replace(/\r?\n$/, '');
  const header = ctx.get(LEGACY_SECRET_HEADER);
  if (!header) return undefined;
  // Ruby's lenient Base64.decode64: gitlab-shell's value usually ends with a newline.
  return Buffer.from(header.trim(), 'base64').toString('utf8').replace(/\r?\n$/, '');
}

/** GitLab Shell's credentials, as the OpenAPI document names them. */
const SHELL_DOCS: AuthStrategyDocs = {
  schemes: {
    gitlab_shell_jwt: {
      type: 'apiKey',
      in: 'header',
      name: 'Gitlab-Shell-Api-Request',
      description: 'An HS256 JWT signed with the GitLab Shell secret (issuer `gitlab-shell`), as GitLab Shell and Gitaly send it.',
    },
    gitlab_shared_secret: {
      type: 'apiKey',
      in: 'header',
      name: 'Gitlab-Shared-Secret',
      description: 'Legacy: the base64-encoded GitLab Shell secret (when legacy secret authentication is on).',
    },
    secret_token: {
      type: 'apiKey',
      in: 'query',
      name: 'secret_token',
      description: 'Legacy: the GitLab Shell secret as a parameter (when legacy secret authentication is on).',
    },
  },
  alternatives: [['gitlab_shell_jwt'], ['gitlab_shared_secret'], ['secret_token']],
};

/**
 * The `gitlab_shell` strategy: GitLab Shell's and Gitaly's `Gitlab-Shell-Api-Request` HS256 JWT, and
 * (unless switched off) the original shared secret. Never a user token: these routes are for the
 * services that hold the shell secret, and nothing else.
 */
export function shellStrategy(options: ShellStrategyOptions): AuthStrategy {
  const verifyShellJwt = createShellJwtVerifier(options.secret);
  return {
    openapi: SHELL_DOCS,
    authenticate(ctx) {
      const jwt = ctx.get(SHELL_JWT_HEADER);
      if (jwt && verifyShellJwt(jwt, Math.floor(options.clock.now().getTime() / 1000))) return SHELL_PRINCIPAL;
      if (options.legacySecretAuth) {
        const presented = legacySecret(ctx);
        // An empty secret never matches, whatever the file holds (boot refuses an empty file as well).
        if (presented && options.secret && constantTimeEqual(presented, options.secret)) return SHELL_PRINCIPAL;
      }
      throw new UnauthorizedError();
    },
  };
}
