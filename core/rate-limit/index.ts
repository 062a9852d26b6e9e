import ratelimit from 'koa-ratelimit';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Middleware } from 'koa';
import { ServiceUnavailableError, TooManyRequestsError } from '../errors.js';
import type { GatehouseContext, GatehouseState, RateLimitSpec } from '../plugins/types.js';

export interface RateLimiterFactoryOptions {
  redis?: Redis;
  keyPrefix: string;
  /** With Redis unreachable: let requests through (true) or answer 503 (false). */
  failOpen: boolean;
  logger: Logger;
}

/** The caller a limit counts against: the user when authenticated, else the client IP. */
function keyOf(spec: RateLimitSpec, ctx: GatehouseContext): string {
  if (typeof spec.by === 'function') return spec.by(ctx);
  const userId = ctx.state.principal?.user?.id;
  return spec.by === 'user' && userId !== undefined ? `user:${userId}` : `ip:${ctx.ip}`;
}

/**
 * Builds koa-ratelimit middleware per route, once at boot. The memory driver gets ONE shared Map (it
 * never limits across requests otherwise) and a namespace per route; Redis is shared by instances.
 * Limited requests get GitLab's 429 body and `Retry-After: <window seconds>`.
 */
export function createRateLimiterFactory(options: RateLimiterFactoryOptions) {
  const sharedMemory = new Map();
  return function rateLimiterFor(routeName: string, spec: RateLimitSpec & { max: number }): Middleware<GatehouseState> {
    const retryAfter = Math.ceil(spec.windowMs / 1000);
    const limiter = ratelimit({
      driver: options.redis ? 'redis' : 'memory',
      db: (options.redis ?? sharedMemory) as never,
      namespace: `${options.keyPrefix}ratelimit:${spec.scope ?? routeName}`,
      duration: spec.windowMs,
      max: spec.max,
      id: (ctx) => keyOf(spec, ctx as GatehouseContext),
      whitelist: spec.skip ? (ctx) => spec.skip!(ctx as GatehouseContext) : undefined,
      disableHeader: true,
    });
    // koa-ratelimit calls `next` only for a request within the limit; the handler runs inside it
    // (no extra async layer per request), and a limiter that returns without calling it has refused.
    return function rateLimit(ctx, next) {
      let allowed = false;
      const proceed = () => {
        allowed = true;
        return next();
      };
      return (limiter(ctx as never, proceed) as Promise<void>).then(
        () => {
          if (!allowed) throw new TooManyRequestsError(retryAfter, spec.headers);
        },
        (error: unknown) => {
          // The handler's own errors, and the memory driver's (it has no outage), pass through.
          if (allowed || !options.redis) throw error;
          options.logger.warn({ err: error, route: routeName }, 'rate limiter unavailable');
          if (!options.failOpen) throw new ServiceUnavailableError();
          return proceed();
        },
      );
    };
  };
}
