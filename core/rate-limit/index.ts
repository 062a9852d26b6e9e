import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ServiceUnavailableError, TooManyRequestsError } from '../errors.js';
import type { GatehouseContext, RateLimitSpec } from '../plugins/types.js';

export interface RateLimiterFactoryOptions {
  redis?: Redis;
  keyPrefix: string;
  /** With Redis unreachable: let requests through (true) or answer 503 (false). */
  failOpen: boolean;
  logger: Logger;
}

/**
 * One route's limit, checked before its handler runs: returns when the request may go on (at once,
 * without a promise, when the counts are in memory), throws GitLab's 429 when the caller is over the
 * limit, or 503 when Redis cannot count and `failOpen` is off.
 */
export type RateLimit = (ctx: GatehouseContext) => void | Promise<void>;

/**
 * The caller a limit counts against: the user when authenticated, else the client IP. User ids are
 * numbers and addresses strings, so the two never meet as map keys.
 */
function callerOf(spec: RateLimitSpec, ctx: GatehouseContext): string | number {
  if (typeof spec.by === 'function') return spec.by(ctx);
  const userId = ctx.state.principal?.user?.id;
  return spec.by === 'user' && userId !== undefined ? userId : ctx.ip;
}

/** The caller as a Redis key part (`user:42`, `ip:10.0.0.1`, or what a `by` function returned). */
const keyPart = (caller: string | number) => (typeof caller === 'number' ? `user:${caller}` : `ip:${caller}`);

/** One fixed window of one caller: how many requests it has counted, and when it ends (epoch ms). */
interface Window {
  count: number;
  endsAt: number;
}

/** Expired windows are swept once the map holds this many (or twice as many as after the last sweep). */
const SWEEP_AT_LEAST = 4096;

/**
 * In-memory fixed windows of one scope: a caller's first request opens a window of `windowMs` and
 * counts 1; requests counted past `max` in it are refused. Synchronous: no promise, no timer.
 * Windows that ended are swept when the map has doubled since the last sweep, so callers that came
 * once (addresses above all) do not pile up.
 */
class MemoryWindows {
  private readonly windows = new Map<string | number, Window>();
  private sweepAt = SWEEP_AT_LEAST;

  /** Counts one request of `caller`; whether it is still within `max` in its window. */
  hit(caller: string | number, max: number, windowMs: number): boolean {
    const now = Date.now();
    let window = this.windows.get(caller);
    if (window === undefined || window.endsAt <= now) {
      if (window === undefined && this.windows.size >= this.sweepAt) this.sweep(now);
      window = { count: 0, endsAt: now + windowMs };
      this.windows.set(caller, window);
    }
    return ++window.count <= max;
  }

  private sweep(now: number): void {
    for (const [caller, window] of this.windows) if (window.endsAt <= now) this.windows.delete(caller);
    this.sweepAt = Math.max(SWEEP_AT_LEAST, this.windows.size * 2);
  }
}

/**
 * The same fixed window in Redis, shared by every instance: one round trip, O(1), as GitLab's own
 * limiter (INCR, and EXPIRE on the first). Returns the count.
 */
const REDIS_WINDOW = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
`;
type WindowCommand = (key: string, windowMs: number) => Promise<number>;

/**
 * Builds each route's limit once at boot. Counts live in memory (one map per scope) or, with Redis,
 * under `<keyPrefix>ratelimit:<scope>:<caller>`, shared by instances. Limited requests get GitLab's
 * 429 body and `Retry-After: <window seconds>` (GitLab's `check_rate_limit!` sends the period).
 *
 * Why not koa-ratelimit (used before): per request it copied its options into a new limiter object and
 * awaited a promise even for the in-memory count, its memory store never forgot a caller, and its
 * Redis store kept a sorted set of every request in the window (up to `max` entries per caller).
 * Measured on the proxy route (bench/proxy.ts, main-thread CPU per request): see the commit.
 */
export function createRateLimiterFactory(options: RateLimiterFactoryOptions) {
  const memory = new Map<string, MemoryWindows>();
  const { redis, logger } = options;
  const command = (() => {
    if (!redis) return undefined;
    const client = redis as Redis & { gatehouseRateWindow?: WindowCommand };
    if (!client.gatehouseRateWindow) redis.defineCommand('gatehouseRateWindow', { numberOfKeys: 1, lua: REDIS_WINDOW });
    return (key: string, windowMs: number) => client.gatehouseRateWindow!(key, windowMs);
  })();

  return function rateLimiterFor(routeName: string, spec: RateLimitSpec & { max: number }): RateLimit {
    const { max, windowMs, skip } = spec;
    const scope = spec.scope ?? routeName;
    const retryAfter = Math.ceil(windowMs / 1000);

    if (!command) {
      let windows = memory.get(scope);
      if (!windows) memory.set(scope, (windows = new MemoryWindows()));
      const counted = windows;
      return function rateLimit(ctx) {
        if (skip?.(ctx)) return;
        if (!counted.hit(callerOf(spec, ctx), max, windowMs)) throw new TooManyRequestsError(retryAfter, spec.headers);
      };
    }

    const namespace = `${options.keyPrefix}ratelimit:${scope}:`;
    return function rateLimit(ctx) {
      if (skip?.(ctx)) return;
      return command(namespace + keyPart(callerOf(spec, ctx)), windowMs).then(
        (count) => {
          if (count > max) throw new TooManyRequestsError(retryAfter, spec.headers);
        },
        (error: unknown) => {
          logger.warn({ err: error, route: routeName }, 'rate limiter unavailable');
          if (!options.failOpen) throw new ServiceUnavailableError();
        },
      );
    };
  };
}
