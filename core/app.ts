import { Stream } from 'node:stream';
import Koa, { type Middleware } from 'koa';
import Router, { type Layer, type MatchResult, type RouterInstance, type RouterOptions } from '@koa/router';
import type { Logger } from 'pino';
import type { AppConfig } from './config/schema.js';
import { NotFoundError, RouteNotFoundError } from './errors.js';
import { collectParams, parseBody, rejectNullBytes, startRequest, writeError } from './http/middleware.js';
import { respond } from './http/respond.js';
import { validateInput } from './http/validation.js';
import { requestObserver, type LineSink, type Metrics } from './ops/observability.js';
import type { AuthStrategy, FlagResolver, GatehouseContext, GatehouseState, Principal, RouteDefinition } from './plugins/types.js';
import type { RateLimit, createRateLimiterFactory } from './rate-limit/index.js';

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
  /** The request logger's destination, when request lines may be written to it directly (see `requestLine`). */
  requestLines?: LineSink;
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
function pipelineFor(bound: BoundRoute, deps: AppDeps): Middleware<GatehouseState> {
  const { route, services } = bound;
  const strategy = deps.strategies.get(route.auth.strategy);
  if (!strategy) throw new Error(`no auth strategy "${route.auth.strategy}" for ${route.name}`);
  // What the strategy needs per route (e.g. the scopes it accepts) is worked out here, once.
  const prepared = strategy.prepare?.(route.auth, route);
  const { flags } = deps;
  const spec = route.rateLimit;
  const max = typeof spec?.max === 'function' ? spec.max(deps.config.plugins[bound.plugin]) : spec?.max;
  const rateLimit: RateLimit | undefined = spec ? deps.rateLimiterFor(route.name, { ...spec, max: max! }) : undefined;
  const schema = route.input;

  // The stages run synchronously until one has to wait (a token looked up in the database, a Redis
  // rate limit), then go on from its promise: an async function here would cost every request an
  // async frame and a microtask turn even when nothing waits. A stage that throws before anything
  // waited throws to the caller, which awaits this in a try (the front door) as it would a rejection.
  const runHandler = (ctx: GatehouseContext): unknown => {
    const input = schema ? validateInput(schema, ctx.state.params, route.inputGroups) : ctx.state.params;
    return route.handler(ctx, input, services);
  };
  const admit = (ctx: GatehouseContext, principal: Principal): unknown => {
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
    if (rateLimit) {
      // In-memory counts decide without a promise; Redis ones are waited for.
      const limited = rateLimit(ctx);
      if (limited) return limited.then(() => runHandler(ctx));
    }
    return runHandler(ctx);
  };
  const runRoute: Middleware<GatehouseState> = function runRoute(ctx) {
    ctx.state.routeName = route.name;
    ctx.state.params = collectParams(ctx);
    rejectNullBytes(ctx);
    // Strategies that decide synchronously (the shell secret, cached tokens) return no promise.
    const authenticated = strategy.authenticate(ctx, route.auth, prepared);
    return authenticated instanceof Promise ? authenticated.then((principal) => admit(ctx, principal)) : admit(ctx, authenticated);
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
  if (!errorHeaders) return run;
  return async function withErrorHeaders(ctx, next) {
    try {
      await run(ctx, next);
    } catch (error) {
      // The error writer sets the error's own headers on top; these stay.
      ctx.set(errorHeaders);
      throw error;
    }
  };
}

/** A declared path that matches only itself (and itself plus a trailing slash): no path-to-regexp syntax. */
const isStaticPath = (path: string) => literalHead(path) === path;

type RouteLayer = Layer<GatehouseState>;

/** @koa/router's class as one constructor (its typings overload `new` by the `methods` option). */
const KoaRouter = Router as unknown as new (options?: RouterOptions) => RouterInstance<GatehouseState>;

/**
 * Every route in one @koa/router table. When several routes match a request, the router's
 * `specificity` rule picks the one with the fewest parameters (`/personal_access_tokens/self` over
 * `/personal_access_tokens/:id`), then the one registered first: core's operations, then the plugins
 * in load order. Paths are case-sensitive, as GitLab's are; a trailing slash is ignored; HEAD is
 * answered by the GET route; a method no route takes at that path is a 404, as in GitLab. A request
 * no route matches falls through to the next middleware.
 */
class RouteTable extends KoaRouter {
  /**
   * Request path → method → the layer the router picks, for every path a route declares without
   * parameters (with and without a trailing slash), worked out once at boot by the router's own
   * match and `specificity` rule. Why: per request, the router tests every route's regex in turn,
   * then builds and composes a middleware chain. Measured with bench/routing.ts (CPU µs per request
   * through the whole app, ~95 routes), `GET /personal_access_tokens/self` cost 15.6 µs through the
   * plain router, 12.6 with the head check below alone, 7.4 with this lookup, and 7.2 with the
   * partitioned routers this table replaced; `POST /internal/allowed` alike (17.6, 11.9, 8.9, 8.0,
   * within the noise of ±0.6 µs). Over HTTP, 8 µs is a sixth of that route's time.
   */
  readonly #known = new Map<string, Map<string, RouteLayer>>();

  /**
   * Each layer's literal head, the part of its path before the first parameter (the whole path when
   * there is none), by position in the stack. With case-sensitive matching, a request path that does
   * not start with it cannot match the layer's regex, and a string comparison costs far less than a
   * regex: `GET /users/:id` costs 10.7 µs with it, 16.1 without, and 11.5 with the partitioned
   * routers (bench/routing.ts, as above).
   */
  #heads: string[] = [];

  /**
   * Routes that take a whole prefix (`/reports{/*rest}`: the proxy's), by prefix then method, for the
   * prefixes under which no other route can match: a request at or below one is theirs whatever the
   * other layers are, so it is dispatched without scanning them. Why: such a path is not in `#known`,
   * and the scan (every layer's head, the router's host check, its chain) is what a proxy request
   * cost on top of a static path. bench/routing.ts, CPU µs per request through the whole app on a
   * slow (throttled) 2-core VM: `GET /svc/items/42` 61.9 through the scan, 40.0 with this lookup,
   * against 36.6 for the static `GET /personal_access_tokens/self`.
   */
  readonly #prefixes: Array<{ prefix: string; below: string; byMethod: Map<string, RouteLayer> }> = [];

  constructor(routes: readonly BoundRoute[], deps: AppDeps) {
    super({ exclusive: 'specificity', sensitive: true });
    for (const bound of routes) {
      this.register(bound.route.path, [bound.route.method], pipelineFor(bound, deps), { name: bound.route.name });
    }
    this.#heads = this.stack.map((layer) => (typeof layer.path === 'string' ? literalHead(layer.path) : ''));
    const methods = new Set(this.stack.flatMap((layer) => layer.methods));
    for (const layer of this.stack) {
      if (typeof layer.path !== 'string' || !isStaticPath(layer.path)) continue;
      for (const path of [layer.path, `${layer.path}/`]) {
        if (this.#known.has(path)) continue;
        const byMethod = new Map<string, RouteLayer>();
        for (const method of methods) {
          const picked = mostSpecific(this.match(path, method).pathAndMethod);
          if (picked) byMethod.set(method, picked);
        }
        this.#known.set(path, byMethod);
      }
    }
    for (const [index, layer] of this.stack.entries()) {
      const prefix = typeof layer.path === 'string' ? wholePrefixOf(layer.path) : undefined;
      if (prefix === undefined || this.#prefixes.some((entry) => entry.prefix === prefix)) continue;
      // Alone under its prefix: every other layer either is the same pattern (another method) or has
      // a head that neither starts with the prefix nor begins it, so it can match no path below.
      const alone = this.stack.every(
        (other, i) => other.path === layer.path || !(this.#heads[i].startsWith(prefix) || prefix.startsWith(this.#heads[i])),
      );
      if (!alone) continue;
      const byMethod = new Map<string, RouteLayer>();
      for (const same of this.stack.slice(index)) {
        if (same.path !== layer.path) continue;
        for (const method of same.methods) if (!byMethod.has(method)) byMethod.set(method, same);
      }
      this.#prefixes.push({ prefix, below: `${prefix}/`, byMethod });
    }
  }

  /** @koa/router's own `match()`, but a layer's regex only runs on a path that starts with its literal head. */
  override match(path: string, method: string): MatchResult<GatehouseState> {
    const matched: MatchResult<GatehouseState> = { path: [], pathAndMethod: [], route: false };
    const upperMethod = method.toUpperCase();
    const heads = this.#heads;
    const { stack } = this;
    for (let index = 0; index < stack.length; index++) {
      const layer = stack[index];
      if (!path.startsWith(heads[index]) || !layer.match(path)) continue;
      matched.path.push(layer);
      const isMiddleware = layer.methods.length === 0;
      if (isMiddleware || layer.methods.includes(upperMethod)) {
        matched.pathAndMethod.push(layer);
        if (!isMiddleware) matched.route = true;
      }
    }
    return matched;
  }

  /** The router's dispatcher, behind the lookup of the paths known at boot. */
  dispatcher(): Middleware<GatehouseState> {
    const known = this.#known;
    const prefixes = this.#prefixes;
    const scan = this.routes() as unknown as Middleware<GatehouseState>;
    return function route(ctx, next) {
      const path = ctx.path;
      const layer = known.get(path)?.get(ctx.method);
      if (layer) {
        // What the router's dispatch sets for a layer without parameters, then the layer's one middleware.
        const routed = ctx as typeof ctx & { params: Record<string, unknown>; _matchedRoute: string; _matchedRouteName?: string };
        routed.params = {};
        routed._matchedRoute = layer.path as string;
        routed._matchedRouteName = layer.name;
        return layer.stack[0](ctx as never, next);
      }
      for (let i = 0; i < prefixes.length; i++) {
        const entry = prefixes[i];
        if (path !== entry.prefix && !path.startsWith(entry.below)) continue;
        const below = entry.byMethod.get(ctx.method);
        // Another method at the prefix: the scan answers as the router does.
        if (!below) break;
        // The router's own parameters (the rest of the path), as its dispatch sets them.
        const routed = ctx as typeof ctx & { params: Record<string, unknown>; _matchedRoute: string; _matchedRouteName?: string };
        routed.params = below.params(path, below.captures(path) ?? [], {});
        routed._matchedRoute = below.path as string;
        routed._matchedRouteName = below.name;
        return below.stack[0](ctx as never, next);
      }
      return scan(ctx, next);
    };
  }
}

/** A path up to its first path-to-regexp token: what every path the route matches starts with. */
function literalHead(path: string): string {
  const token = path.search(/[:*?+!(){}[\]\\]/);
  return token === -1 ? path : path.slice(0, token);
}

/** The literal prefix of a path that takes everything below it (`/reports{/*rest}` → `/reports`), else undefined. */
function wholePrefixOf(path: string): string | undefined {
  const match = /^(\/[^:*?+!(){}[\]\\]*?)\{\/\*[A-Za-z0-9_]+\}$/.exec(path);
  return match ? match[1] : undefined;
}

/** @koa/router's `exclusive: 'specificity'` choice among the layers matching path and method. */
function mostSpecific(layers: readonly RouteLayer[]): RouteLayer | undefined {
  let picked: RouteLayer | undefined;
  for (const layer of layers) if (!picked || layer.paramNames.length < picked.paramNames.length) picked = layer;
  return picked;
}

/**
 * What every request goes through first and last: its id and the headers every answer carries, the
 * single error writer, then metrics and the request log line. One middleware rather than three: each
 * Koa layer costs an async frame on every request.
 */
function frontDoor(deps: AppDeps): Middleware<GatehouseState> {
  const observe = requestObserver(deps.metrics, deps.requestLogger, deps.config.log.requests, deps.requestLines);
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
      // Only gatehouse's own answers: a relayed one keeps the upstream's type, whether it is written
      // already (read whole) or streamed.
      const { res } = ctx;
      if (!res.headersSent && !(ctx.body instanceof Stream) && res.getHeader('Content-Type') === KOA_JSON_TYPE) res.setHeader('Content-Type', JSON_TYPE);
      observe(ctx, started);
    }
  };
}

/**
 * Koa with gatehouse's three stages (front door, route table, unmatched) called in a row, and
 * without Koa's per-request `on-finished` hook. Koa's own handler composes `app.middleware` (a
 * closure and a promise per layer) and hooks every response's socket and `finish` to hand socket
 * errors to `ctx.onerror` — which, for a response that can no longer be written, only emits an
 * 'error' event that Koa's own listener ignores in this silent app. Measured with a cpu-profile of
 * `npm run bench:proxy`'s proxy route: `on-finished` and `ee-first` alone took about 2.5 % of the
 * main thread's CPU. The response is then written by `respond`, as Koa writes it.
 */
class GatehouseApp extends Koa<GatehouseState> {
  constructor(
    options: { proxy: boolean; maxIpsCount: number },
    private readonly handle: (ctx: GatehouseContext) => Promise<void>,
  ) {
    super(options);
    this.silent = true;
  }

  /** Routes are declared in manifests; a middleware added here would never run, so none is taken. */
  override use(): never {
    throw new Error('the gatehouse app takes no middleware: declare routes in a plugin manifest');
  }

  override callback(): ReturnType<Koa<GatehouseState>['callback']> {
    // As Koa: `ctx.onerror` emits 'error' on the app, which throws when nobody listens.
    if (!this.listenerCount('error')) this.on('error', this.onerror);
    return (req, res) => {
      res.statusCode = 404;
      const ctx = this.createContext(req as never, res as never) as GatehouseContext;
      // As Koa: a failure of the stages (the front door catches theirs) or of writing the answer (a
      // body JSON cannot serialise) becomes Koa's plain 500, never an unhandled rejection.
      // One reaction for both outcomes, not a then and a catch: a promise less per request.
      return this.handle(ctx).then(
        () => {
          try {
            respond(ctx);
          } catch (error) {
            ctx.onerror(error as Error);
          }
        },
        (error: Error) => ctx.onerror(error),
      );
    };
  }
}

/** Koa app for the given routes. No listen, no env reads: the caller owns the server. */
export function createApp(deps: AppDeps): Koa<GatehouseState> {
  const operations = deps.operations.map((route) => ({ plugin: 'core', route, services: undefined }));
  const front = frontDoor(deps);
  const route = new RouteTable([...operations, ...deps.routes], deps).dispatcher();
  const unmatched = async function unmatched(ctx: GatehouseContext) {
    // GitLab's catch-all `route :any, '*path'` answers with the `error` key.
    if (ctx.path.startsWith('/api/v3/')) {
      ctx.status = 410;
      ctx.body = { error: 'API V3 is no longer supported. Use API V4 instead.' };
      return;
    }
    throw new RouteNotFoundError();
  };
  const routed = (ctx: GatehouseContext) => route(ctx, () => unmatched(ctx));
  return new GatehouseApp({ proxy: deps.config.server.trustProxy, maxIpsCount: deps.config.server.maxIpsCount }, (ctx) => front(ctx, () => routed(ctx)));
}
