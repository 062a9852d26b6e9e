import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pino from 'pino';
import { createCache } from '../../core/cache/index.js';
import { createInvalidationBus } from '../../core/ops/bus.js';
import { TEST_REDIS_URL } from '../helpers/app.js';

const silent = pino({ level: 'silent' });
const localBus = () => createInvalidationBus({ keyPrefix: 'unused:', logger: silent });

test('a read that began before an invalidation of one of its tags is not stored; unrelated drops do not matter', (t) => {
  const cache = createCache<string>({ name: 'principals', bus: localBus(), max: 10, ttlMs: 60_000 });

  let since = cache.generation;
  cache.drop(['token:7']); // arrives while the reader is between its SELECT and its fill
  t.false(cache.set('digest', 'old row', since, ['token:7', 'user:3']));
  t.is(cache.peek('digest'), undefined);

  since = cache.generation;
  cache.drop(['user:3']);
  t.false(cache.set('digest', 'old row', since, ['token:7', 'user:3']));

  since = cache.generation;
  cache.drop(['token:8']);
  cache.drop(['user:4', 'project:1']);
  t.true(cache.set('digest', 'row', since, ['token:7', 'user:3']));
  t.is(cache.peek('digest'), 'row');

  cache.drop(['user:4']);
  t.is(cache.peek('digest'), 'row', 'another user\'s drop leaves it');
  cache.drop(['user:3']);
  t.is(cache.peek('digest'), undefined, 'its user\'s drop removes it');
});

test('untagged entries depend on everything: any invalidation drops them and refuses their racing fills', (t) => {
  const cache = createCache<number>({ name: 'reads', bus: localBus(), max: 10, ttlMs: 60_000 });
  const since = cache.generation;
  t.true(cache.set('a', 1, since));
  t.true(cache.set('b', 2, since, ['user:1']));
  cache.drop(['project:9']);
  t.is(cache.peek('a'), undefined);
  t.is(cache.peek('b'), 2);
  t.false(cache.set('a', 1, since), 'a fill that began before the drop');
  t.true(cache.set('a', 1, cache.generation));

  cache.drop();
  t.is(cache.peek('a'), undefined);
  t.is(cache.peek('b'), undefined, 'an untagged invalidation drops everything');
  t.false(cache.set('b', 2, since, ['user:1']), 'and refuses every fill that began before it');
});

test('read-through: a load is stored unless invalidated meanwhile, misses are not remembered, hits share one promise', async (t) => {
  const cache = createCache<{ id: number } | undefined>({ name: 'reads', bus: localBus(), max: 10, ttlMs: 60_000 });
  let loads = 0;
  const load = async () => ({ id: ++loads });
  const first = await cache.get('user:1', load);
  t.deepEqual(first, { id: 1 });
  const hit = cache.get('user:1', load);
  t.is(hit, cache.get('user:1', load), 'a hit allocates nothing');
  t.is(await hit, first);

  t.is(await cache.get('missing', async () => undefined), undefined);
  t.false(cache.size === 2, 'a miss is not stored');

  let release!: () => void;
  const slow = cache.get('user:2', async () => {
    await new Promise<void>((resolve) => (release = resolve));
    return { id: 99 };
  });
  await cache.invalidate(['user:2']);
  release();
  t.deepEqual(await slow, { id: 99 }, 'the caller still gets what it read');
  t.is(cache.peek('user:2'), undefined, 'but it is not stored: a write committed meanwhile');
});

test('concurrent misses of a key share one load; a caller after an invalidation starts its own', async (t) => {
  const cache = createCache<{ id: number; read: number }>({ name: 'reads', bus: localBus(), max: 10, ttlMs: 60_000 });
  let reads = 0;
  const gates: Array<() => void> = [];
  const load = (id: number) => async () => {
    const read = ++reads;
    await new Promise<void>((resolve) => gates.push(resolve));
    return { id, read };
  };

  const joined = Array.from({ length: 20 }, () => cache.get('user:1', load(1), (value) => [`user:${value.id}`]));
  t.is(reads, 1, 'twenty callers, one read');
  t.true(joined.every((promise) => promise === joined[0]), 'they wait on the same promise');
  gates.shift()!();
  t.deepEqual(await Promise.all(joined), Array(20).fill({ id: 1, read: 1 }));
  t.deepEqual(cache.peek('user:1'), { id: 1, read: 1 });
  t.is(await cache.get('user:1', load(1)), cache.peek('user:1')!, 'stored: the next caller hits');

  // A write commits while a read is in flight: callers that come after it read again.
  const before = cache.get('user:2', load(2), (value) => [`user:${value.id}`]);
  await cache.invalidate(['user:2']);
  const after = cache.get('user:2', load(2), (value) => [`user:${value.id}`]);
  t.not(after, before);
  t.is(reads, 3);
  gates.shift()!();
  gates.shift()!();
  t.deepEqual(await before, { id: 2, read: 2 }, 'the earlier caller gets what it read');
  t.deepEqual(await after, { id: 2, read: 3 });
  t.deepEqual(cache.peek('user:2'), { id: 2, read: 3 }, 'only the read that began after the write is stored');

  // Tags computed from the value are the entry's tags.
  cache.drop(['user:1']);
  t.is(cache.peek('user:1'), undefined);
  t.deepEqual(cache.peek('user:2'), { id: 2, read: 3 });
});

test('a shared load that fails fails every caller that joined it and is not remembered; nor is a miss', async (t) => {
  const cache = createCache<string>({ name: 'reads', bus: localBus(), max: 10, ttlMs: 60_000 });
  let reads = 0;
  let fail!: (error: Error) => void;
  const failing = () => {
    reads += 1;
    return new Promise<string>((_resolve, reject) => (fail = reject));
  };
  const joined = [cache.get('k', failing), cache.get('k', failing), cache.get('k', failing)];
  t.is(reads, 1);
  fail(new Error('database unreachable'));
  for (const promise of joined) await t.throwsAsync(promise, { message: 'database unreachable' });
  t.is(await cache.get('k', async () => (++reads, 'value')), 'value', 'the next caller reads again');
  t.is(reads, 2);

  let misses = 0;
  const missing = () => (misses++, Promise.resolve(undefined));
  t.deepEqual(await Promise.all([cache.get('gone', missing), cache.get('gone', missing)]), [undefined, undefined]);
  t.is(misses, 1, 'concurrent misses share the read');
  await cache.get('gone', missing);
  t.is(misses, 2, 'but a miss is not remembered');
  t.is(cache.size, 1);
});

test('bounded: the least recently used entries go first; listeners hear every invalidation with its tags', async (t) => {
  const cache = createCache<number>({ name: 'small', bus: localBus(), max: 2, ttlMs: 60_000 });
  const heard: Array<readonly string[] | undefined> = [];
  cache.onInvalidate((tags) => heard.push(tags));
  cache.set('a', 1, 0, ['x']);
  cache.set('b', 2, 0, ['x']);
  cache.peek('a');
  cache.set('c', 3, 0, ['y']);
  t.is(cache.peek('b'), undefined);
  t.is(cache.peek('a'), 1);
  cache.drop(['x']);
  t.is(cache.peek('a'), undefined);
  t.is(cache.peek('c'), 3);
  await cache.invalidate();
  t.deepEqual(heard, [['x'], undefined]);
  t.is(cache.size, 0);
});

test('readiness states the staleness bound: the longest TTL of the caches on the bus', (t) => {
  const bus = localBus();
  createCache({ name: 'a', bus, max: 1, ttlMs: 5_000 });
  createCache({ name: 'b', bus, max: 1, ttlMs: 12_000 });
  t.deepEqual(bus.status(), { status: 'ok', distributed: false, delivering: false, staleness_bound_ms: 12_000 });
});

test('with Redis down, invalidation settles at once (logged), this instance still drops, and readiness says other instances are not reached', async (t) => {
  const redis = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true, retryStrategy: () => null });
  redis.on('error', () => undefined);
  const bus = createInvalidationBus({ redis, keyPrefix: 'unused:', logger: silent });
  try {
    const cache = createCache<string>({ name: 'principals', bus, max: 10, ttlMs: 7_000 });
    cache.set('digest', 'row', 0, ['user:3']);
    await cache.invalidate(['user:3']);
    t.is(cache.peek('digest'), undefined);
    t.deepEqual(bus.status(), { status: 'ok', distributed: true, delivering: false, staleness_bound_ms: 7_000 });
  } finally {
    await bus.close();
    redis.disconnect();
  }
});

if (!TEST_REDIS_URL) {
  test('cache invalidation over Redis skipped: GATEHOUSE_TEST_REDIS_URL is not set', (t) => {
    t.pass();
  });
} else {
  test('over Redis: an invalidation has reached the other instance\'s socket when it settles, and drops its entries on arrival', async (t) => {
    const keyPrefix = `gh-test-cache-${randomBytes(6).toString('hex')}:`;
    const redisA = new Redis(TEST_REDIS_URL!, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    const redisB = new Redis(TEST_REDIS_URL!, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    await Promise.all([redisA, redisB].map((redis) => new Promise((ready) => redis.once('ready', ready))));
    const busA = createInvalidationBus({ redis: redisA, keyPrefix, logger: silent });
    const busB = createInvalidationBus({ redis: redisB, keyPrefix, logger: silent });
    try {
      const a = createCache<string>({ name: 'principals', bus: busA, max: 10, ttlMs: 60_000 });
      const b = createCache<string>({ name: 'principals', bus: busB, max: 10, ttlMs: 60_000 });
      // Subscriptions are made asynchronously; wait until B hears A.
      for (let i = 0; i < 250; i++) {
        b.set('probe', 'x', b.generation, ['probe']);
        await a.invalidate(['probe']);
        await new Promise((done) => setTimeout(done, 20));
        if (b.peek('probe') === undefined) break;
      }
      t.is(b.peek('probe'), undefined, 'B hears A');
      t.like(busB.status(), { distributed: true, delivering: true, staleness_bound_ms: 60_000 });

      const heard = new Promise<readonly string[] | undefined>((resolve) => b.onInvalidate(resolve));
      b.set('digest', 'row', b.generation, ['user:3']);
      const since = b.generation;
      await a.invalidate(['user:3']);
      t.deepEqual(await heard, ['user:3']);
      t.is(b.peek('digest'), undefined);
      t.false(b.set('digest', 'old row', since, ['user:3']), 'B refuses a fill that began before it heard the write');
    } finally {
      await busA.close();
      await busB.close();
      redisA.disconnect();
      redisB.disconnect();
    }
  });
}
