import {
  ModelValidationError,
  NotFoundError,
  PreconditionFailedError,
  created,
  noContent,
  respondWithPage,
  type GatehouseContext,
  type ParamGroup,
} from 'gatehouse';
import type { TokensServices } from './services.js';
import { CreateImpersonationTokenParams, ImpersonationListParams, ImpersonationTokenParams } from './params.js';
import { presentImpersonationToken, presentTokenWithSecret } from './presenter.js';
import type { AccessToken } from './repository.js';
import { findUserOr404, IMPERSONATION_TOKEN_RESOURCE, route, withModelErrors } from './route-helpers.js';

const CLASSIC_OR_GRANULAR: readonly ParamGroup[] = [{ rule: 'mutually_exclusive', names: ['scopes', 'granular_scopes'] }];

/** An impersonation token of that user, or 404 — also for a personal access token's id. */
async function impersonationTokenOf(services: TokensServices, userId: number, tokenId: number): Promise<AccessToken> {
  const user = await findUserOr404(services, userId);
  const token = await services.tokens.findById(tokenId);
  if (!token || token.userId !== user.id || !token.impersonation) throw new NotFoundError(IMPERSONATION_TOKEN_RESOURCE);
  return token;
}

/**
 * GitLab's `check_unmodified_since!`: 412 when the token changed after the client's `If-Unmodified-Since`.
 * HTTP dates have whole seconds, so the token's time is compared at that precision — a client sending
 * the current time must not be refused over milliseconds.
 */
function checkUnmodifiedSince(ctx: GatehouseContext, token: AccessToken) {
  const header = ctx.get('If-Unmodified-Since');
  if (!header) return;
  const since = new Date(header).getTime();
  if (Number.isNaN(since)) return;
  if (Math.floor(token.updatedAt.getTime() / 1000) * 1000 > since) throw new PreconditionFailedError();
}

/** `/users/:user_id/impersonation_tokens*`: admin only (the `admin` strategy answers 403 before any lookup). */
export const impersonationRoutes = [
  route({
    name: 'tokens.impersonation-list',
    method: 'GET',
    path: '/api/v4/users/:user_id/impersonation_tokens',
    auth: { strategy: 'admin' },
    input: ImpersonationListParams,
    async handler(ctx, input, services) {
      const user = await findUserOr404(services, input.user_id);
      // Unlike /personal_access_tokens, this listing knows `all`, and it is the default (trap 7).
      const state = input.state === 'all' ? undefined : input.state;
      await respondWithPage(ctx, services.externalUrl, input, async (window) => {
        const { tokens, total } = await services.tokens.list({ userId: user.id, impersonation: true, state }, window);
        return { items: tokens.map((token) => presentImpersonationToken(token, services.tokens.isActive(token))), total };
      });
    },
  }),
  route({
    name: 'tokens.impersonation-create',
    method: 'POST',
    path: '/api/v4/users/:user_id/impersonation_tokens',
    auth: { strategy: 'admin' },
    input: CreateImpersonationTokenParams,
    inputGroups: CLASSIC_OR_GRANULAR,
    async handler(ctx, input, services) {
      const user = await findUserOr404(services, input.user_id);
      const issued = await withModelErrors(
        () =>
          services.tokens.create(user, {
            name: input.name,
            description: input.description,
            scopes: input.scopes ?? [],
            expiresAt: input.expires_at,
            impersonation: true,
          }),
        // This endpoint saves the model itself and answers `render_validation_error!`: 400 with the hash.
        (error) => new ModelValidationError(error.byAttribute),
      );
      created(ctx, presentTokenWithSecret(issued.token, services.tokens.isActive(issued.token), issued.plaintext, true));
    },
  }),
  route({
    name: 'tokens.impersonation-show',
    method: 'GET',
    path: '/api/v4/users/:user_id/impersonation_tokens/:impersonation_token_id',
    auth: { strategy: 'admin' },
    input: ImpersonationTokenParams,
    async handler(ctx, input, services) {
      const token = await impersonationTokenOf(services, input.user_id, input.impersonation_token_id);
      ctx.body = presentImpersonationToken(token, services.tokens.isActive(token));
    },
  }),
  route({
    name: 'tokens.impersonation-revoke',
    method: 'DELETE',
    path: '/api/v4/users/:user_id/impersonation_tokens/:impersonation_token_id',
    auth: { strategy: 'admin' },
    input: ImpersonationTokenParams,
    async handler(ctx, input, services) {
      const token = await impersonationTokenOf(services, input.user_id, input.impersonation_token_id);
      checkUnmodifiedSince(ctx, token);
      // Revoked, not deleted: the row stays listed as inactive.
      await services.tokens.revoke(token);
      noContent(ctx);
    },
  }),
];
