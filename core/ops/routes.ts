import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import { pingDb } from '../db/index.js';
import { NotFoundError } from '../errors.js';
import type { GatehouseContext, RouteDefinition } from '../plugins/types.js';
import type { DiscoveryDocument } from '../signing/discovery.js';
import type { InstanceKeys } from '../signing/instance-keys.js';
import { createIpAllowlist } from '../util/ip-allowlist.js';
import type { Metrics } from './observability.js';
import type { InvalidationStatus } from './bus.js';
import { openapiRoute } from './openapi-route.js';

export interface OperationsDeps {
  db: Knex;
  redis?: Redis;
  metrics: Metrics;
  flagsSynced: () => boolean;
  /** Whether cache invalidations reach the other instances, and how stale a lost one can leave them. */
  invalidation: () => InvalidationStatus;
  /** True while draining for shutdown: readiness then fails so load balancers stop sending traffic. */
  draining: () => boolean;
  /** Each upstream's targets and the live ones (reported, never failing readiness: the gateway itself is ready). */
  upstreams?: () => Record<string, { targets: number; live: string[] }>;
  /** Who may read readiness and metrics (`monitoring.ipAllowlist`). */
  monitoringIpAllowlist: readonly string[];
}

const within = <T>(ms: number, work: Promise<T>) =>
  Promise.race([work, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms).unref())]);

async function check(work: () => Promise<unknown>): Promise<{ status: 'ok' } | { status: 'failed'; message: string }> {
  try {
    await within(2_000, work());
    return { status: 'ok' };
  } catch (error) {
    return { status: 'failed', message: (error as Error).message };
  }
}

/**
 * `/-/health` (process up), `/-/readiness` (db, redis, flags, cache invalidation), `/-/metrics`
 * (Prometheus text). Readiness and metrics reveal the deployment's internals: a client outside the
 * monitoring allowlist gets a plain 404, as GitLab answers, so the endpoints do not even show they exist.
 */
export function operationsRoutes(deps: OperationsDeps): RouteDefinition<unknown>[] {
  const isMonitoringClient = createIpAllowlist(deps.monitoringIpAllowlist);
  const requireMonitoringClient = (ctx: GatehouseContext) => {
    if (!isMonitoringClient(ctx.ip)) throw new NotFoundError();
  };
  return [
    {
      name: 'core.health',
      method: 'GET',
      path: '/-/health',
      summary: 'Liveness: the process is up',
      successStatus: 200,
      auth: { strategy: 'none', reason: 'liveness probe for orchestrators; reveals nothing' },
      handler(ctx) {
        ctx.body = { status: 'ok' };
      },
    },
    {
      name: 'core.readiness',
      method: 'GET',
      path: '/-/readiness',
      summary: 'Readiness: database, Redis, flags and cache invalidation',
      successStatus: 200,
      auth: { strategy: 'none', reason: 'readiness probe for load balancers; limited to monitoring.ipAllowlist' },
      async handler(ctx) {
        requireMonitoringClient(ctx);
        const checks: Record<string, unknown> = { db: await check(() => pingDb(deps.db)) };
        if (deps.redis) checks.redis = await check(() => deps.redis!.ping());
        // Flags never block readiness: manifest defaults serve until Unleash syncs.
        checks.unleash = { status: 'ok', synced: deps.flagsSynced() };
        checks.cache_invalidation = deps.invalidation();
        const upstreams = deps.upstreams?.();
        if (upstreams && Object.keys(upstreams).length) checks.upstreams = { status: 'ok', upstreams };
        const failed = deps.draining() || Object.values(checks).some((c) => (c as { status: string }).status !== 'ok');
        ctx.status = failed ? 503 : 200;
        ctx.body = { status: failed ? 'failed' : 'ok', checks };
      },
    },
    {
      name: 'core.metrics',
      method: 'GET',
      path: '/-/metrics',
      summary: 'Prometheus metrics',
      successStatus: 200,
      auth: { strategy: 'none', reason: 'Prometheus scrape endpoint; limited to monitoring.ipAllowlist' },
      async handler(ctx) {
        requireMonitoringClient(ctx);
        ctx.type = deps.metrics.registry.contentType;
        ctx.body = await deps.metrics.registry.metrics();
      },
    },
  ];
}

/** GitLab caches its JWKS and discovery document for a day (`jwks_controller.rb`). */
export const JWKS_CACHE_CONTROL = 'max-age=86400, public, must-revalidate, no-transform';

export interface InstanceKeyRoutesDeps {
  keys: InstanceKeys;
  /** The discovery document, as the enabled plugins extended it. */
  discovery: () => Readonly<DiscoveryDocument>;
}

/**
 * What verifiers of gatehouse's JWTs fetch, whichever plugins are enabled: the JWKS at both of GitLab's
 * paths for it (`/oauth/discovery/keys`, `/-/jwks`) and the OpenID discovery document naming it.
 */
export function instanceKeyRoutes(deps: InstanceKeyRoutesDeps): RouteDefinition<unknown>[] {
  const serveJwks = (ctx: GatehouseContext) => {
    ctx.set('Cache-Control', JWKS_CACHE_CONTROL);
    ctx.body = deps.keys.jwks();
  };
  return [
    {
      name: 'core.jwks',
      method: 'GET',
      path: '/oauth/discovery/keys',
      summary: 'The public keys gatehouse signs its JWTs with (JWKS)',
      successStatus: 200,
      auth: { strategy: 'none', reason: 'The JWKS is public: verifiers of gatehouse\'s tokens fetch it' },
      handler: serveJwks,
    },
    {
      name: 'core.jwks-alias',
      method: 'GET',
      path: '/-/jwks',
      summary: 'The JWKS, at GitLab\'s second path for it',
      successStatus: 200,
      auth: { strategy: 'none', reason: 'The JWKS is public (GitLab\'s second path for it)' },
      handler: serveJwks,
    },
    {
      name: 'core.openid-configuration',
      method: 'GET',
      path: '/.well-known/openid-configuration',
      summary: 'OpenID discovery: the issuer, the JWKS URL and what enabled plugins add',
      successStatus: 200,
      auth: { strategy: 'none', reason: 'OpenID discovery is public: it tells verifiers the issuer and the JWKS URL' },
      handler(ctx) {
        ctx.set('Cache-Control', JWKS_CACHE_CONTROL);
        ctx.body = deps.discovery();
      },
    },
  ];
}

/**
 * Every route core serves besides the plugins', in mounting order: the gateway mounts these, and the
 * loader checks the plugins' routes against them (with placeholder deps: it reads only methods, paths
 * and names), so the two lists cannot drift apart.
 */
export function coreRoutes(deps: OperationsDeps & InstanceKeyRoutesDeps & { openapi?: () => string }): RouteDefinition<unknown>[] {
  return [...operationsRoutes(deps), ...instanceKeyRoutes(deps), ...(deps.openapi ? [openapiRoute(deps.openapi)] : [])];
}
