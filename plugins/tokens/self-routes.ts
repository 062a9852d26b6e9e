import { BadRequestError, noContent } from 'gatehouse';
import { presentToken } from './presenter.js';
import { SelfRotateParams } from './params.js';
import { actorOf, callingToken, NOT_PERMITTED_TO_REVOKE, rotateAndRespond, route } from './route-helpers.js';
import { ANY_SCOPE } from './scopes.js';

/** Scopes that may rotate the calling token (GitLab's self-rotation endpoint adds `self_rotate`). */
const SELF_ROTATE_SCOPES = ['self_rotate'] as const;

/**
 * `/personal_access_tokens/self*`: the calling token itself. Declared before the `/:id` routes, and
 * the router prefers the route with fewer parameters, so `self` never reaches `/:id` (trap 10).
 */
export const selfRoutes = [
  route({
    name: 'tokens.self',
    method: 'GET',
    path: '/api/v4/personal_access_tokens/self',
    auth: { strategy: 'token', scopes: [ANY_SCOPE] },
    handler(ctx, _input, services) {
      // The hot path of every editor extension: answered from the token the strategy just resolved.
      const token = callingToken(ctx);
      ctx.body = presentToken(token, services.tokens.isActive(token));
    },
  }),
  route({
    name: 'tokens.revoke-self',
    method: 'DELETE',
    path: '/api/v4/personal_access_tokens/self',
    auth: { strategy: 'token', scopes: [ANY_SCOPE] },
    async handler(ctx, _input, services) {
      const token = callingToken(ctx);
      // A non-admin may not revoke an impersonation token, not even the one they are using.
      if (!services.tokens.canRevoke(actorOf(ctx), token)) throw new BadRequestError(NOT_PERMITTED_TO_REVOKE);
      await services.tokens.revoke(token);
      noContent(ctx);
    },
  }),
  route({
    name: 'tokens.rotate-self',
    method: 'POST',
    path: '/api/v4/personal_access_tokens/self/rotate',
    auth: { strategy: 'token', scopes: SELF_ROTATE_SCOPES },
    input: SelfRotateParams,
    async handler(ctx, input, services) {
      await rotateAndRespond(ctx, services, callingToken(ctx), input.expires_at);
    },
  }),
];
