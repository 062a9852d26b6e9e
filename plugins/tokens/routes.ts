import { BadRequestError } from '../../core/errors.js';
import { routeFor } from '../../core/plugins/types.js';
import { presentToken } from './presenter.js';
import { ANY_SCOPE } from './scopes.js';
import type { TokensServices } from './manifest.js';

const route = routeFor<TokensServices>();

export const PAT_REQUIRED = 'This endpoint requires token type to be a personal access token';

/** The token the request authenticated with, which must be a personal access (or impersonation) token. */
async function callingToken(ctx: Parameters<Parameters<typeof route>[0]['handler']>[0], services: TokensServices) {
  const credential = ctx.state.principal?.credential;
  if (!credential || credential.type === 'oauth_token') throw new BadRequestError(PAT_REQUIRED);
  return (await services.tokens.findById(credential.id))!;
}

export const tokenRoutes = [
  route({
    name: 'tokens.self',
    method: 'GET',
    path: '/api/v4/personal_access_tokens/self',
    auth: { strategy: 'token', scopes: [ANY_SCOPE] },
    async handler(ctx, _input, services) {
      const token = await callingToken(ctx, services);
      ctx.body = presentToken(token, services.tokens.isActive(token));
    },
  }),
];
