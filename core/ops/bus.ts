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

/** How long a publisher waits for the other instances to confirm they dropped; past it, it answers anyway. */
const ACK_TIMEOUT_MS = 250;

/**
 * Cache invalidation messages. Always delivered in-process at once; with Redis also published to the
 * other instances (each ignores its own echo). Each instance that hears a message confirms it after
 * its caches dropped the entries, and `publish` settles once every instance Redis delivered it to has
 * confirmed. Why: Redis hands the message to the other instances before it answers the publisher, but
 * an instance may still serve the client's next request from its cache before reading its subscriber
 * socket (a cached principal is answered without any I/O). Measured before the confirmation: a token
 * of a user blocked on one instance was still accepted by the next request on another in 1 of 6 runs.
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
  const ackChannel = (instance: string) => `${prefix}ack:${instance}`;
  /** Publications waiting for confirmations, by sequence number. */
  const awaiting = new Map<string, { confirmations: number; expected?: number; done: () => void }>();
  let sequence = 0;
  subscriber?.subscribe(ackChannel(instanceId)).catch((error) => options.logger.error({ err: error }, 'subscribe failed'));
  subscriber?.on('message', (fullChannel: string, raw: string) => {
    if (fullChannel === ackChannel(instanceId)) {
      const waiting = awaiting.get(raw);
      if (!waiting) return;
      waiting.confirmations += 1;
      if (waiting.expected !== undefined && waiting.confirmations >= waiting.expected) waiting.done();
      return;
    }
    const first = raw.indexOf('|');
    const second = raw.indexOf('|', first + 1);
    if (first < 0 || second < 0) return;
    const sender = raw.slice(0, first);
    if (sender === instanceId) return;
    deliver(fullChannel.slice(prefix.length), raw.slice(second + 1));
    options.redis!.publish(ackChannel(sender), raw.slice(first + 1, second)).catch(() => {
      // The publisher stops waiting after ACK_TIMEOUT_MS.
    });
  });
  subscriber?.on('error', (error) => options.logger.warn({ err: error }, 'invalidation subscriber error'));

  const caches = new Map<string, number>();
  const bus: InvalidationBus & { close(): Promise<void>; status(): InvalidationStatus } = {
    distributed: Boolean(options.redis),
    async publish(channel, message) {
      deliver(channel, message);
      if (!options.redis) return;
      const id = String(++sequence);
      let confirmed!: () => void;
      const allConfirmed = new Promise<void>((resolve) => (confirmed = resolve));
      const waiting: { confirmations: number; expected?: number; done: () => void } = { confirmations: 0, done: confirmed };
      awaiting.set(id, waiting);
      try {
        const receivers = await options.redis.publish(`${prefix}${channel}`, `${instanceId}|${id}|${message}`);
        // This instance's own subscriber is among the receivers when it listens on the channel.
        // Confirmations may arrive before PUBLISH's answer does: they are counted already.
        waiting.expected = receivers - (handlers.get(channel)?.length ? 1 : 0);
        if (waiting.confirmations < waiting.expected) {
          let timer: NodeJS.Timeout | undefined;
          const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, ACK_TIMEOUT_MS)));
          await Promise.race([allConfirmed, timedOut]);
          clearTimeout(timer);
        }
      } catch (error) {
        options.logger.error({ err: error, channel }, 'invalidation publish failed: other instances keep their entries until the cache TTL');
      } finally {
        awaiting.delete(id);
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
