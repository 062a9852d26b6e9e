import { routeFor, type GatehouseContext, type RouteDefinition } from 'gatehouse';
import type { InternalApiServices } from './services.js';

const route = routeFor<InternalApiServices>();

/** GitLab Shell's and Gitaly's credentials only: the shell JWT or (unless switched off) the shared secret. */
const SHELL_AUTH = { strategy: 'gitlab_shell' } as const;

/**
 * Gitaly refuses anything but exactly 200 with a JSON content type from these hooks (and then rejects
 * the push), so both set them explicitly. No params are validated, as in GitLab.
 */
function respond(ctx: GatehouseContext, body: object) {
  ctx.status = 200;
  ctx.type = 'application/json';
  ctx.body = body;
}

export const hookRoutes: RouteDefinition<InternalApiServices, any>[] = [
  route({
    name: 'internal-api.pre-receive',
    method: 'POST',
    path: '/api/v4/internal/pre_receive',
    auth: SHELL_AUTH,
    async handler(ctx, params, services) {
      respond(ctx, await services.internal.pushHooks.preReceive(params));
    },
  }),
  route({
    name: 'internal-api.post-receive',
    method: 'POST',
    path: '/api/v4/internal/post_receive',
    auth: SHELL_AUTH,
    async handler(ctx, params, services) {
      respond(ctx, await services.internal.pushHooks.postReceive(params));
    },
  }),
];
