import { BadRequestError, NotFoundError, ServiceError, callerOf, routeFor, type GatehouseContext } from 'gatehouse';
import type { TokensServices } from './services.js';
import { presentTokenWithSecret } from './presenter.js';
import type { AccessToken } from './repository.js';
import { TokenValidationError, type Actor } from './service.js';
import { accessTokenOf } from './strategy.js';

/** Typed route declarations over the tokens plugin's services. */
export const route = routeFor<TokensServices>();

// GitLab's texts (reference Appendix A), shared by several routes.
export const PAT_REQUIRED = 'This endpoint requires token type to be a personal access token';
export const NOT_PERMITTED_TO_REVOKE = 'Not permitted to revoke';
export const TOKEN_ALREADY_REVOKED = 'Token already revoked';
export const USER_RESOURCE = 'User';
export const IMPERSONATION_TOKEN_RESOURCE = 'Impersonation Token';

/** The user the request acts as (after `Sudo`); every tokens route is authenticated. */
export function actorOf(ctx: GatehouseContext): Actor {
  const user = callerOf(ctx);
  return { id: user.id, isAdmin: user.isAdmin };
}

/**
 * The token the request authenticated with, as the strategy resolved it; it must be a personal access
 * (or impersonation) token.
 */
export function callingToken(ctx: GatehouseContext): AccessToken {
  const token = accessTokenOf(ctx.state.principal);
  if (!token) throw new BadRequestError(PAT_REQUIRED);
  return token;
}

/** The user named by `:user_id`, or 404 `{"message":"404 User Not Found"}`. */
export async function findUserOr404(services: TokensServices, userId: number) {
  const user = await services.directory.users.findById(userId);
  if (!user) throw new NotFoundError(USER_RESOURCE);
  return user;
}

/**
 * Runs a model-validating service call and turns a TokenValidationError into the API error the
 * endpoint uses (422 sentence for the PAT endpoints, 400 sentence for rotation, 400 hash for
 * impersonation tokens).
 */
export async function withModelErrors<T>(call: () => Promise<T>, toApiError: (error: TokenValidationError) => Error): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof TokenValidationError) throw toApiError(error);
    throw error;
  }
}

/** The PAT creation services' `render_api_error!(message, 422)`. */
export const unprocessable = (error: TokenValidationError) => new ServiceError(422, error.message);

/**
 * Rotation, shared by `/:id/rotate` and `/self/rotate`: 200 with the successor and its secret; a
 * revoked token or a refused expiry is `400 Bad request - <reason>`.
 */
export async function rotateAndRespond(ctx: GatehouseContext, services: TokensServices, token: AccessToken, expiresAt: string | undefined) {
  const owner = await findUserOr404(services, token.userId);
  const rotated = await withModelErrors(
    () => services.tokens.rotate(token, owner, expiresAt),
    (error) => new BadRequestError(error.message),
  );
  if (rotated === 'revoked') throw new BadRequestError(TOKEN_ALREADY_REVOKED);
  ctx.status = 200;
  ctx.body = presentTokenWithSecret(rotated.token, services.tokens.isActive(rotated.token), rotated.plaintext);
}
