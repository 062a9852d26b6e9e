import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { InvalidationBus } from '../plugins/types.js';

type Handler = (message: string) => void;

/**
 * What readiness reports of cache invalidation. Without Redis (`distributed: false`), or while it is
 * down (`delivering: false`), other instances do not hear this one's writes: their cached entries stay
 * until they expire, at most `staleness_bound_ms` (the longest cache TTL). Never fails readiness on
 * its own: the `redis` check already does when Redis is down.
 */
export interface InvalidationStatus {
  status: 'ok';
  distributed: boolean;
  delivering: boolean;
  staleness_bound_ms: number;
}

/**
 * Cache invalidation messages. Always delivered in-process at once; with Redis also published to the
 * other instances (each ignores its own echo).
 */
export function createInvalidationBus(options: { redis?: Redis; keyPrefix: string; logger: Logger }) {
  const handlers = new Map<string, Handler[]>();
  const instanceId = randomUUID();
  const deliver = (channel: string, message: string) => {
    for (const handler of handlers.get(channel) ?? []) {
      try {
        handler(message);
      } catch (error) {
        options.logger.error({ err: error, channel }, 'invalidation handler failed');
      }
    }
  };
  // The subscriber is off the request path, so unlike the main connection it queues commands while
  // (re)connecting: a SUBSCRIBE sent at boot before the connection is up must not be lost, or other
  // instances' invalidations would never arrive. ioredis re-subscribes by itself after a reconnect.
  const subscriber = options.redis?.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
  const prefix = `${options.keyPrefix}bus:`;
  subscriber?.on('message', (fullChannel: string, raw: string) => {
    const separator = raw.indexOf('|');
    if (separator < 0 || raw.slice(0, separator) === instanceId) return;
    deliver(fullChannel.slice(prefix.length), raw.slice(separator + 1));
  });
  subscriber?.on('error', (error) => options.logger.warn({ err: error }, 'invalidation subscriber error'));

  const caches = new Map<string, number>();
  const bus: InvalidationBus & { close(): Promise<void>; status(): InvalidationStatus } = {
    distributed: Boolean(options.redis),
    async publish(channel, message) {
      deliver(channel, message);
      if (!options.redis) return;
      try {
        await options.redis.publish(`${prefix}${channel}`, `${instanceId}|${message}`);
      } catch (error) {
        options.logger.error({ err: error, channel }, 'invalidation publish failed: other instances keep their entries until the cache TTL');
      }
    },
    registerCache(name, ttlMs) {
      caches.set(name, Math.max(ttlMs, caches.get(name) ?? 0));
    },
    status() {
      const stalenessBoundMs = Math.max(0, ...caches.values());
      if (!options.redis) return { status: 'ok', distributed: false, delivering: false, staleness_bound_ms: stalenessBoundMs };
      const delivering = options.redis.status === 'ready' && subscriber!.status === 'ready';
      return { status: 'ok', distributed: true, delivering, staleness_bound_ms: stalenessBoundMs };
    },
    subscribe(channel, handler) {
      const list = handlers.get(channel) ?? [];
      if (!list.length) subscriber?.subscribe(`${prefix}${channel}`).catch((error) => options.logger.error({ err: error }, 'subscribe failed'));
      handlers.set(channel, [...list, handler]);
    },
    async close() {
      subscriber?.disconnect();
    },
  };
  return bus;
}
