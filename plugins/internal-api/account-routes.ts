import {
  NotFoundError,
  RecordNotFoundError,
  UnauthorizedError,
  routeFor,
  iso,
  type GatehouseContext,
  type RouteDefinition,
} from 'gatehouse';
import type { InternalApiServices } from './services.js';
import type { SshKey, User } from './types.js';

const route = routeFor<InternalApiServices>();

/** Every route here is GitLab Shell's (or Gitaly's): the shell secret, never a user token. */
const SHELL = { strategy: 'gitlab_shell' } as const;
const KEY = 'Key';

/** GitLab's `SSHKey` entity, with the publishable key (comment replaced) GitLab Shell prints for sshd. */
function presentAuthorizedKey(key: SshKey, publishableKey: string) {
  return {
    id: key.id,
    title: key.title,
    created_at: iso(key.createdAt),
    expires_at: iso(key.expiresAt),
    last_used_at: iso(key.lastUsedAt),
    key: publishableKey,
    usage_type: key.usageType,
  };
}

/** GitLab's `UserSafe`. */
function presentUserSafe(user: User) {
  return { id: user.id, username: user.username, public_email: null, name: user.name };
}

/** The JSON `null` with 200: Koa would turn a null body into 204, so it is written as text. */
function jsonNull(ctx: GatehouseContext) {
  ctx.status = 200;
  ctx.body = 'null';
  ctx.type = 'application/json';
}

/** Routes that always answer 200 with `{success,…}` (GitLab's `status 200` before any check). */
function successRoute(name: string, path: string, answer: (services: InternalApiServices, params: Record<string, unknown>) => Promise<object> | object) {
  return route({
    name: `internal-api.${name}`,
    method: 'POST',
    path: `/api/v4/internal/${path}`,
    auth: SHELL,
    async handler(ctx, params, services) {
      ctx.status = 200;
      ctx.body = await answer(services, params);
    },
  });
}

/**
 * The internal account endpoints: health check, key lookup for sshd, user discovery, recovery codes,
 * personal access tokens, two-factor config and LFS tokens. None declares params (GitLab's don't):
 * what is missing is answered by the business rules, never by a Grape 400.
 */
export const accountRoutes: RouteDefinition<InternalApiServices, any>[] = [
  route({
    name: 'internal-api.check',
    method: 'GET',
    path: '/api/v4/internal/check',
    auth: SHELL,
    async handler(ctx, _params, { internal }) {
      ctx.body = {
        api_version: 'v4',
        gitlab_version: internal.app.version.version,
        gitlab_rev: internal.app.version.revision,
        redis: await internal.accounts.redisHealthy(),
      };
    },
  }),
  route({
    name: 'internal-api.authorized-keys',
    method: 'GET',
    path: '/api/v4/internal/authorized_keys',
    auth: SHELL,
    async handler(ctx, params, { internal }) {
      const found = await internal.accounts.authorizedKey(params.key);
      if (found === 'not_found') throw new NotFoundError(KEY);
      if (found === 'blocked') throw new UnauthorizedError(KEY);
      ctx.body = presentAuthorizedKey(found.key, internal.accounts.publishableKey(found.key, found.owner));
    },
  }),
  route({
    name: 'internal-api.discover',
    method: 'GET',
    path: '/api/v4/internal/discover',
    auth: SHELL,
    async handler(ctx, params, { internal }) {
      const user = await internal.accounts.discover(params);
      if (user) ctx.body = presentUserSafe(user);
      else jsonNull(ctx);
    },
  }),
  successRoute('two-factor-recovery-codes', 'two_factor_recovery_codes', ({ internal }, params) =>
    internal.accounts.regenerateRecoveryCodes(params),
  ),
  successRoute('personal-access-token', 'personal_access_token', ({ internal }, params) =>
    internal.accounts.createPersonalAccessToken(params),
  ),
  successRoute('two-factor-config', 'two_factor_config', ({ internal }, params) => internal.accounts.twoFactorConfig(params)),
  successRoute('two-factor-manual-otp-check', 'two_factor_manual_otp_check', ({ internal }) => internal.accounts.otpCheck()),
  successRoute('two-factor-push-otp-check', 'two_factor_push_otp_check', ({ internal }) => internal.accounts.otpCheck()),
  route({
    name: 'internal-api.lfs-authenticate',
    method: 'POST',
    path: '/api/v4/internal/lfs_authenticate',
    auth: SHELL,
    async handler(ctx, params, { internal }) {
      const result = await internal.accounts.lfsAuthenticate(params);
      if (result === 'container_not_found') throw new NotFoundError();
      if (result === 'actor_not_found') throw new RecordNotFoundError();
      ctx.body = result;
    },
  }),
];
