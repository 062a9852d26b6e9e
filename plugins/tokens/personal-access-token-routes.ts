import {
  BadRequestError,
  NotFoundError,
  RecordNotFoundError,
  UnauthorizedError,
  noContent,
  respondWithPage,
  type GatehouseContext,
} from 'gatehouse';
import type { TokensServices } from './services.js';
import { ListParams, RotateParams, TokenIdParams } from './params.js';
import { presentToken } from './presenter.js';
import type { AccessToken, TokenFilter } from './repository.js';
import { actorOf, NOT_PERMITTED_TO_REVOKE, rotateAndRespond, route } from './route-helpers.js';

/**
 * A token the caller may read or rotate. Only admins learn whether a token exists (404); anyone else
 * gets 401 for another user's token and for a missing one alike (trap 6).
 */
async function manageableToken(ctx: GatehouseContext, services: TokensServices, id: number): Promise<AccessToken> {
  const actor = actorOf(ctx);
  const token = await services.tokens.findById(id);
  if (token && services.tokens.canManage(actor, token)) return token;
  throw actor.isAdmin ? new NotFoundError() : new UnauthorizedError();
}

/**
 * Whose tokens a listing covers. Admins: everyone's (impersonation included), or one existing user's;
 * `user_id=` given blank or naming nobody is 404. Others: their own non-impersonation tokens; naming
 * another user is 401.
 */
async function listingScope(ctx: GatehouseContext, services: TokensServices, userId: number | null | undefined) {
  const actor = actorOf(ctx);
  if (!actor.isAdmin) {
    if (userId != null && userId !== actor.id) throw new UnauthorizedError();
    return { userId: actor.id, impersonation: false };
  }
  if (userId === undefined) return {};
  if (userId === null || !(await services.directory.users.findById(userId))) throw new NotFoundError();
  return { userId };
}

export const personalAccessTokenRoutes = [
  route({
    name: 'tokens.list',
    method: 'GET',
    path: '/api/v4/personal_access_tokens',
    auth: { strategy: 'token' },
    input: ListParams,
    async handler(ctx, input, services) {
      const filter: Omit<TokenFilter, 'today'> = {
        ...(await listingScope(ctx, services, input.user_id)),
        revoked: input.revoked,
        state: input.state,
        createdBefore: input.created_before,
        createdAfter: input.created_after,
        lastUsedBefore: input.last_used_before,
        lastUsedAfter: input.last_used_after,
        expiresBefore: input.expires_before,
        expiresAfter: input.expires_after,
        search: input.search,
        sort: input.sort,
      };
      await respondWithPage(ctx, services.externalUrl, input, async (window) => {
        const { tokens, total } = await services.tokens.list(filter, window);
        return { items: tokens.map((token) => presentToken(token, services.tokens.isActive(token))), total };
      });
    },
  }),
  route({
    name: 'tokens.show',
    method: 'GET',
    path: '/api/v4/personal_access_tokens/:id',
    auth: { strategy: 'token' },
    input: TokenIdParams,
    async handler(ctx, input, services) {
      const token = await manageableToken(ctx, services, input.id);
      ctx.body = presentToken(token, services.tokens.isActive(token));
    },
  }),
  route({
    name: 'tokens.revoke',
    method: 'DELETE',
    path: '/api/v4/personal_access_tokens/:id',
    auth: { strategy: 'token' },
    input: TokenIdParams,
    async handler(ctx, input, services) {
      const token = await services.tokens.findById(input.id);
      // GitLab looks the token up with `find`, so a missing one is RecordNotFound: "404 Not found".
      if (!token) throw new RecordNotFoundError();
      if (!services.tokens.canRevoke(actorOf(ctx), token)) throw new BadRequestError(NOT_PERMITTED_TO_REVOKE);
      await services.tokens.revoke(token);
      noContent(ctx);
    },
  }),
  route({
    name: 'tokens.rotate',
    method: 'POST',
    path: '/api/v4/personal_access_tokens/:id/rotate',
    auth: { strategy: 'token' },
    input: RotateParams,
    async handler(ctx, input, services) {
      await rotateAndRespond(ctx, services, await manageableToken(ctx, services, input.id), input.expires_at);
    },
  }),
];
