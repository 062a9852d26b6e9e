import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import { pingDb } from '../db/index.js';
import type { RouteDefinition } from '../plugins/types.js';
import type { Metrics } from './observability.js';
import type { InvalidationStatus } from './bus.js';

export interface OperationsDeps {
  db: Knex;
  redis?: Redis;
  metrics: Metrics;
  flagsSynced: () => boolean;
  /** Whether cache invalidations reach the other instances, and how stale a lost one can leave them. */
  invalidation: () => InvalidationStatus;
  /** True while draining for shutdown: readiness then fails so load balancers stop sending traffic. */
  draining: () => boolean;
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

/** `/-/health` (process up), `/-/readiness` (db, redis, flags, cache invalidation), `/-/metrics` (Prometheus text). */
export function operationsRoutes(deps: OperationsDeps): RouteDefinition<unknown>[] {
  return [
    {
      name: 'core.health',
      method: 'GET',
      path: '/-/health',
      auth: { strategy: 'none', reason: 'liveness probe for orchestrators; reveals nothing' },
      handler(ctx) {
        ctx.body = { status: 'ok' };
      },
    },
    {
      name: 'core.readiness',
      method: 'GET',
      path: '/-/readiness',
      auth: { strategy: 'none', reason: 'readiness probe for load balancers; reveals only dependency health' },
      async handler(ctx) {
        const checks: Record<string, unknown> = { db: await check(() => pingDb(deps.db)) };
        if (deps.redis) checks.redis = await check(() => deps.redis!.ping());
        // Flags never block readiness: manifest defaults serve until Unleash syncs.
        checks.unleash = { status: 'ok', synced: deps.flagsSynced() };
        checks.cache_invalidation = deps.invalidation();
        const failed = deps.draining() || Object.values(checks).some((c) => (c as { status: string }).status !== 'ok');
        ctx.status = failed ? 503 : 200;
        ctx.body = { status: failed ? 'failed' : 'ok', checks };
      },
    },
    {
      name: 'core.metrics',
      method: 'GET',
      path: '/-/metrics',
      auth: { strategy: 'none', reason: 'Prometheus scrape endpoint; bind or firewall it as you would GitLab\'s' },
      async handler(ctx) {
        ctx.type = deps.metrics.registry.contentType;
        ctx.body = await deps.metrics.registry.metrics();
      },
    },
  ];
}
