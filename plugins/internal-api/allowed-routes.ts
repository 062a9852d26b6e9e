import { routeFor, type RouteDefinition } from 'gatehouse';
import type { InternalApiConfig } from './config.js';
import type { InternalApiServices } from './services.js';
import { allowedRateLimitKey } from './git-access.js';
import { SHELL_JWT_HEADER } from './strategy.js';

/** The ops flag letting a Workhorse in front of gatehouse count /allowed refusals in its circuit breaker. */
export const CIRCUIT_BREAKER_FLAG = 'internal_api_workhorse_circuit_breaker';
const CIRCUIT_BREAKER_HEADERS = Object.freeze({ 'Enable-Workhorse-Circuit-Breaker': 'true' });

const route = routeFor<InternalApiServices>();

/**
 * `POST /internal/allowed`: GitLab Shell asks before every git command over SSH, Gitaly before
 * accepting a push. No input schema: GitLab declares no params here (absence is business logic, never
 * a Grape 400), and params arrive as JSON or form fields.
 */
export const allowedRoutes: RouteDefinition<InternalApiServices, any>[] = [
  route({
    name: 'internal-api.allowed',
    method: 'POST',
    path: '/api/v4/internal/allowed',
    auth: { strategy: 'gitlab_shell' },
    // GitLab's gitlab_shell_operation limit, scoped to action, project and actor.
    rateLimit: {
      max: (config: InternalApiConfig) => config.allowedRateLimit,
      windowMs: 60_000,
      by: (ctx) => allowedRateLimitKey(ctx.state.params),
    },
    // GitLab asks Workhorse to trip its circuit breaker only for GitLab Shell's own SSH checks.
    responseHeaders: (ctx, { internal }) =>
      ctx.state.params.protocol === 'ssh' && ctx.get(SHELL_JWT_HEADER) && internal.flags.isEnabled(CIRCUIT_BREAKER_FLAG)
        ? CIRCUIT_BREAKER_HEADERS
        : undefined,
    handler: async (ctx, _input, { internal }) => {
      // Already JSON (remembered answers are kept serialised): typed before the body, so Koa keeps the type.
      ctx.set('Content-Type', 'application/json');
      ctx.body = await internal.gitAccess.allowedJson(ctx.state.params);
    },
  }),
];
