import Koa, { type Middleware } from 'koa';
import Router from '@koa/router';
import type { Logger } from 'pino';
import type { AppConfig } from './config/schema.js';
import { NotFoundError, RouteNotFoundError } from './errors.js';
import { collectParams, errorWriter, parseBody, requestContext } from './http/middleware.js';
import { validateInput } from './http/validation.js';
import { observeRequests, type Metrics } from './ops/observability.js';
import type { AuthStrategy, FlagResolver, GatehouseContext, GatehouseState, RouteDefinition } from './plugins/types.js';
import type { createRateLimiterFactory } from './rate-limit/index.js';

/** A route with the services of the plugin that declared it. */
export interface BoundRoute {
  plugin: string;
  route: RouteDefinition<unknown, any>;
  services: unknown;
}

export interface AppDeps {
  config: AppConfig;
  logger: Logger;
  /** Writes the one line per request (may be the general logger). */
  requestLogger: Logger;
  metrics: Metrics;
  flags: FlagResolver;
  strategies: ReadonlyMap<string, AuthStrategy>;
  rateLimiterFor: ReturnType<typeof createRateLimiterFactory>;
  routes: readonly BoundRoute[];
  /** Core routes (`/-/health`, …) mounted before the plugins'. */
  operations: readonly RouteDefinition<unknown, any>[];
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Names the route for logs and metrics. */
const nameRoute = (name: string): Middleware<GatehouseState> =>
  function nameRoute(ctx, next) {
    ctx.state.routeName = name;
    return next();
  };

/** Query, body and path params, merged once; runs after the body parser. */
const gatherParams: Middleware<GatehouseState> = function gatherParams(ctx, next) {
  ctx.state.params = collectParams(ctx);
  return next();
};

function authenticate(strategy: AuthStrategy, route: RouteDefinition<unknown, any>): Middleware<GatehouseState> {
  return async function authenticate(ctx, next) {
    ctx.state.principal = await strategy.authenticate(ctx, route.auth);
    return next();
  };
}

/** A route behind a flag that is off does not exist: 404 `{"message":"404 Not Found"}`. */
function flagGate(flags: FlagResolver, flag: string): Middleware<GatehouseState> {
  return async function flagGate(ctx, next) {
    const userId = ctx.state.principal?.user?.id;
    if (!flags.isEnabled(flag, userId === undefined ? undefined : { userId: String(userId) })) throw new NotFoundError();
    await next();
  };
}

function handle(bound: BoundRoute): Middleware<GatehouseState> {
  const { route, services } = bound;
  const schema = route.input;
  return async function handle(ctx) {
    const input = schema ? validateInput(schema, ctx.state.params) : ctx.state.params;
    await route.handler(ctx as GatehouseContext, input, services);
  };
}

/**
 * The per-route pipeline, built once at boot from the manifest: name → body (non-GET) → params →
 * authenticate → flag gate → rate limit → validate + handler. Nothing is decided per request that
 * the manifest already said.
 */
function pipelineFor(bound: BoundRoute, deps: AppDeps): Middleware<GatehouseState>[] {
  const { route } = bound;
  const strategy = deps.strategies.get(route.auth.strategy);
  if (!strategy) throw new Error(`no auth strategy "${route.auth.strategy}" for ${route.name}`);
  const chain: Middleware<GatehouseState>[] = [nameRoute(route.name)];
  if (BODY_METHODS.has(route.method)) chain.push(parseBody(deps.config.server.bodyLimit));
  chain.push(gatherParams, authenticate(strategy, route));
  if (route.flag) chain.push(flagGate(deps.flags, route.flag));
  if (route.rateLimit) chain.push(deps.rateLimiterFor(route.name, route.rateLimit));
  chain.push(handle(bound));
  return chain;
}

/** Koa app for the given routes. No listen, no env reads: the caller owns the server. */
export function createApp(deps: AppDeps): Koa<GatehouseState> {
  const app = new Koa<GatehouseState>({ proxy: deps.config.server.trustProxy, maxIpsCount: deps.config.server.maxIpsCount });
  app.silent = true;
  const router = new Router<GatehouseState>({ exclusive: 'specificity' });
  const operations = deps.operations.map((route) => ({ plugin: 'core', route, services: undefined }));
  for (const bound of [...operations, ...deps.routes]) {
    router.register(bound.route.path, [bound.route.method], pipelineFor(bound, deps), { name: bound.route.name });
  }

  app.use(requestContext());
  app.use(observeRequests(deps.metrics, deps.requestLogger, deps.config.log.requests));
  app.use(errorWriter(deps.logger));
  app.use(router.routes() as unknown as Middleware<GatehouseState>);
  app.use(async function unmatched(ctx) {
    // GitLab's catch-all `route :any, '*path'` answers with the `error` key.
    if (ctx.path.startsWith('/api/v3/')) {
      ctx.status = 410;
      ctx.body = { error: 'API V3 is no longer supported. Use API V4 instead.' };
      return;
    }
    throw new RouteNotFoundError();
  });
  return app;
}
