import { UnauthorizedError } from '../errors.js';
import type { GatehouseContext, PrincipalUser } from '../plugins/types.js';

/** Answers 201 Created with the resource the request made. */
export function created(ctx: GatehouseContext, body: unknown): void {
  ctx.status = 201;
  ctx.body = body;
}

/** Answers 204 No Content (Koa drops any body). */
export function noContent(ctx: GatehouseContext): void {
  ctx.status = 204;
}

/**
 * The user the request acts as (after `Sudo`), as the route's auth strategy resolved it. A route whose
 * strategy authenticates no user (a service, or nobody) gets GitLab's 401 rather than a crash.
 */
export function callerOf(ctx: GatehouseContext): PrincipalUser {
  const user = ctx.state.principal?.user;
  if (!user) throw new UnauthorizedError();
  return user;
}
