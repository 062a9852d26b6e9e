import Koa, { type Middleware } from 'koa';
import Router from '@koa/router';
import type { Logger } from 'pino';
import type { AppConfig } from './config/schema.js';
import { NotFoundError, RouteNotFoundError } from './errors.js';
import { collectParams, parseBody, rejectNullBytes, startRequest, writeError } from './http/middleware.js';
import { validateInput } from './http/validation.js';
import { requestObserver, type Metrics } from './ops/observability.js';
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

/** The type Koa gives JSON bodies, and the one GitLab sends (reference: `Content-Type: application/json`). */
const KOA_JSON_TYPE = 'application/json; charset=utf-8';
const JSON_TYPE = 'application/json';

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The per-route pipeline, built once at boot from the manifest: name → body (non-GET) → params →
 * authenticate → flag gate → rate limit → validate → handler. The stages after the body parser run
 * in one function rather than one Koa middleware each: every layer costs an async frame per request
 * on the hot path, and nothing here is decided per request that the manifest already said.
 */
function pipelineFor(bound: BoundRoute, deps: AppDeps): Middleware<GatehouseState>[] {
  const { route, services } = bound;
  const strategy = deps.strategies.get(route.auth.strategy);
  if (!strategy) throw new Error(`no auth strategy "${route.auth.strategy}" for ${route.name}`);
  // What the strategy needs per route (e.g. the scopes it accepts) is worked out here, once.
  const prepared = strategy.prepare?.(route.auth, route);
  const { flags } = deps;
  const spec = route.rateLimit;
  const max = typeof spec?.max === 'function' ? spec.max(deps.config.plugins[bound.plugin]) : spec?.max;
  const rateLimit = spec ? deps.rateLimiterFor(route.name, { ...spec, max: max! }) : undefined;
  const schema = route.input;

  /** Validate and handle: the last stage, behind the rate limit when there is one. */
  const handle = async (ctx: GatehouseContext) => {
    const input = schema ? validateInput(schema, ctx.state.params, route.inputGroups) : ctx.state.params;
    await route.handler(ctx, input, services);
  };

  const runRoute: Middleware<GatehouseState> = async function runRoute(ctx) {
    ctx.state.routeName = route.name;
    ctx.state.params = collectParams(ctx);
    rejectNullBytes(ctx);
    // Strategies that decide synchronously (the shell secret, cached tokens) cost no await.
    const authenticated = strategy.authenticate(ctx, route.auth, prepared);
    const principal = authenticated instanceof Promise ? await authenticated : authenticated;
    ctx.state.principal = principal;
    // A route behind a flag that is off does not exist: 404 `{"message":"404 Not Found"}`.
    if (route.flag) {
      const userId = principal.user?.id;
      if (!flags.isEnabled(route.flag, userId === undefined ? undefined : { userId: String(userId) })) throw new NotFoundError();
    }
    if (route.responseHeaders) {
      const headers = route.responseHeaders(ctx, services);
      if (headers) for (const name in headers) ctx.res.setHeader(name, headers[name]);
    }
    if (rateLimit) await rateLimit(ctx, () => handle(ctx));
    else await handle(ctx);
  };

  const parse = BODY_METHODS.has(route.method) && !route.rawBody ? parseBody(deps.config.server.bodyLimit) : undefined;
  const run: Middleware<GatehouseState> = parse
    ? function readBodyThenRun(ctx, next) {
        // Named before the body is read, so a body refused as too large or malformed counts for the route.
        ctx.state.routeName = route.name;
        return parse(ctx, () => runRoute(ctx, next));
      }
    : runRoute;
  const { errorHeaders } = route;
  if (!errorHeaders) return [run];
  return [
    async function withErrorHeaders(ctx, next) {
      try {
        await run(ctx, next);
      } catch (error) {
        // The error writer sets the error's own headers on top; these stay.
        ctx.set(errorHeaders);
        throw error;
      }
    },
  ];
}

/**
 * The static prefix a route table is partitioned by: `api/v4/<segment>` for API paths, the first two
 * segments otherwise (`-/health`, `oauth/token`). Undefined when the prefix holds a parameter.
 */
function partitionKey(path: string): string | undefined {
  const segments = path.split('/', 5).filter(Boolean);
  const depth = segments[0] === 'api' ? 3 : 2;
  if (segments.length < depth) return undefined;
  const prefix = segments.slice(0, depth);
  return prefix.some((segment) => segment.startsWith(':') || segment.includes('*') || segment.includes('(') || segment.includes('{')) ? undefined : prefix.join('/');
}

/**
 * `partitionKey` of a request path, by index rather than by splitting: it runs on every request. A
 * path with empty segments (`/api//v4/…`) gets a key no partition has, so only the fallback sees it,
 * as no partitioned route would match it either.
 */
function requestPartitionKey(path: string): string | undefined {
  const depth = path.startsWith('/api/') ? 3 : 2;
  let end = 0;
  for (let segment = 0; segment < depth; segment++) {
    end = path.indexOf('/', end + 1);
    if (end === -1) return segment === depth - 1 && path.length > 1 ? path.slice(1) : undefined;
  }
  return path.slice(1, end);
}

/** A declared path that only matches itself: no parameters, wildcards or groups. */
const isExactPath = (path: string) => !/[:*(?]/.test(path);

/**
 * Routes grouped into one router per static prefix. @koa/router tests every layer's regex in turn,
 * so one table of every plugin's routes costs a few microseconds per request; a request only looks
 * at the routes sharing its prefix (then at the few routes with a parameter in their prefix). Routes
 * whose path has no parameter are found by an exact lookup before any router (a static path wins
 * under the routers' `specificity` rule anyway).
 */
function partitionedRouter(routes: readonly BoundRoute[], deps: AppDeps): Middleware<GatehouseState> {
  const partitions = new Map<string, Router<GatehouseState>>();
  const fallback = new Router<GatehouseState>({ exclusive: 'specificity' });
  // Method → path → pipeline: two lookups by strings the request already holds, no key built per request.
  const exactRoutes = new Map<string, Map<string, Middleware<GatehouseState>>>();
  for (const bound of routes) {
    const key = partitionKey(bound.route.path);
    let router = key === undefined ? fallback : partitions.get(key);
    if (!router) partitions.set(key!, (router = new Router<GatehouseState>({ exclusive: 'specificity' })));
    const pipeline = pipelineFor(bound, deps);
    router.register(bound.route.path, [bound.route.method], pipeline, { name: bound.route.name });
    if (isExactPath(bound.route.path) && pipeline.length === 1) {
      let byPath = exactRoutes.get(bound.route.method);
      if (!byPath) exactRoutes.set(bound.route.method, (byPath = new Map()));
      byPath.set(bound.route.path, pipeline[0]);
    }
  }
  const dispatchers = new Map([...partitions].map(([key, router]) => [key, router.routes() as unknown as Middleware<GatehouseState>]));
  const fallbackDispatch = fallback.routes() as unknown as Middleware<GatehouseState>;
  return function dispatch(ctx, next) {
    // A path without parameters, exactly as declared: straight to its pipeline. Anything else (HEAD,
    // a trailing slash, parameters) goes to the routers.
    const exact = exactRoutes.get(ctx.method)?.get(ctx.path);
    if (exact) return exact(ctx, next);
    const key = requestPartitionKey(ctx.path);
    const router = key === undefined ? undefined : dispatchers.get(key);
    return router ? router(ctx, () => fallbackDispatch(ctx, next)) : fallbackDispatch(ctx, next);
  };
}

/**
 * What every request goes through first and last: its id and the headers every answer carries, the
 * single error writer, then metrics and the request log line. One middleware rather than three: each
 * Koa layer costs an async frame on every request.
 */
function frontDoor(deps: AppDeps): Middleware<GatehouseState> {
  const observe = requestObserver(deps.metrics, deps.requestLogger, deps.config.log.requests);
  return async function frontDoor(ctx, next) {
    const started = process.hrtime.bigint();
    startRequest(ctx);
    try {
      await next();
    } catch (caught) {
      writeError(ctx, caught, deps.logger);
    } finally {
      // Koa types JSON bodies `application/json; charset=utf-8`; GitLab answers `application/json`,
      // and python-gitlab 3.x compares the header with exactly that: given anything else, it hands its
      // callers the raw HTTP response instead of the decoded object.
      if (ctx.res.getHeader('Content-Type') === KOA_JSON_TYPE) ctx.res.setHeader('Content-Type', JSON_TYPE);
      observe(ctx, started);
    }
  };
}

/** Koa app for the given routes. No listen, no env reads: the caller owns the server. */
export function createApp(deps: AppDeps): Koa<GatehouseState> {
  const app = new Koa<GatehouseState>({ proxy: deps.config.server.trustProxy, maxIpsCount: deps.config.server.maxIpsCount });
  app.silent = true;
  const operations = deps.operations.map((route) => ({ plugin: 'core', route, services: undefined }));

  app.use(frontDoor(deps));
  app.use(partitionedRouter([...operations, ...deps.routes], deps));
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
