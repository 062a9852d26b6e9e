import test from 'ava';
import { Redis } from 'ioredis';
import { definePlugin, type RouteDefinition } from '../../core/plugins/types.js';
import { RATE_LIMITED_MESSAGE } from '../../core/errors.js';
import { startTestApp, TEST_REDIS_URL, type TestApp } from '../helpers/app.js';

const LIMIT = { max: 2, windowMs: 60_000, by: 'ip' } as const;

const limitedRoute = (action: string): RouteDefinition<unknown> => ({
  name: `limited.${action}`,
  method: 'GET',
  path: `/api/v4/limited/${action}`,
  auth: { strategy: 'none', reason: 'test route' },
  rateLimit: LIMIT,
  handler(ctx) {
    ctx.body = { action };
  },
});

const limitedPlugin = definePlugin({
  name: 'limited',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'Routes with rate limits.',
  routes: [
    limitedRoute('first'),
    limitedRoute('second'),
    {
      name: 'limited.unlimited',
      method: 'GET',
      path: '/api/v4/limited/unlimited',
      auth: { strategy: 'none', reason: 'test route' },
      handler(ctx) {
        ctx.body = { action: 'unlimited' };
      },
    },
  ],
});

/** GET bounded by a deadline: a limiter that hangs on a dead Redis fails the test instead of stalling it. */
async function boundedGet(app: TestApp, path: string) {
  const response = await fetch(`${app.url}${path}`, { signal: AbortSignal.timeout(5_000) });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

async function assertPerRouteLimits(t: import('ava').ExecutionContext, app: TestApp) {
  for (let i = 0; i < LIMIT.max; i++) t.is((await boundedGet(app, '/api/v4/limited/first')).status, 200);

  const limited = await boundedGet(app, '/api/v4/limited/first');
  t.is(limited.status, 429);
  t.deepEqual(limited.body, { message: { error: RATE_LIMITED_MESSAGE } });
  t.deepEqual(limited.body, { message: { error: 'This endpoint has been requested too many times. Try again later.' } });
  t.is(limited.headers.get('retry-after'), '60');
  t.regex(limited.headers.get('content-type')!, /^application\/json/);
  t.truthy(limited.headers.get('x-request-id'));

  // The other limited route keeps its own budget: limits are per route, in the same store.
  t.is((await boundedGet(app, '/api/v4/limited/second')).status, 200);
  t.is((await boundedGet(app, '/api/v4/limited/second')).status, 200);
  t.is((await boundedGet(app, '/api/v4/limited/second')).status, 429);
  t.is((await boundedGet(app, '/api/v4/limited/unlimited')).status, 200, 'routes without a limit are never limited');
  t.is((await boundedGet(app, '/api/v4/limited/first')).status, 429, 'still limited');
}

test('memory driver: the third request in the window gets GitLab\'s 429; each route has its own budget', async (t) => {
  const app = await startTestApp({ registry: [limitedPlugin], redis: false });
  try {
    await assertPerRouteLimits(t, app);
  } finally {
    await app.close();
  }
});

if (TEST_REDIS_URL) {
  test('redis driver: the same limits, kept in Redis', async (t) => {
    const app = await startTestApp({ registry: [limitedPlugin] });
    try {
      t.truthy(app.gateway.redis, 'the app uses Redis');
      await assertPerRouteLimits(t, app);
    } finally {
      await app.close();
    }
  });

  test('redis driver: two instances share one budget', async (t) => {
    const prefix = `gh-test-shared-${process.pid}-${Date.now()}:`;
    const config = { redis: { keyPrefix: prefix } };
    const one = await startTestApp({ registry: [limitedPlugin], config });
    const two = await startTestApp({ registry: [limitedPlugin], config });
    try {
      t.is((await boundedGet(one, '/api/v4/limited/first')).status, 200);
      t.is((await boundedGet(two, '/api/v4/limited/first')).status, 200);
      t.is((await boundedGet(one, '/api/v4/limited/first')).status, 429);
      t.is((await boundedGet(two, '/api/v4/limited/first')).status, 429);
    } finally {
      await one.close();
      await two.close();
      // The harness drops only the prefixes it chose; this one is ours.
      const redis = new Redis(TEST_REDIS_URL!);
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
  });
} else {
  test.skip('Redis rate-limit tests skipped: GATEHOUSE_TEST_REDIS_URL is not set', () => {});
}

const UNREACHABLE_REDIS = 'redis://127.0.0.1:1';

test('Redis unreachable with failOpen: requests go through without waiting for Redis', async (t) => {
  const app = await startTestApp({ registry: [limitedPlugin], redis: false, config: { redis: { url: UNREACHABLE_REDIS, failOpen: true } } });
  try {
    for (let i = 0; i < LIMIT.max + 2; i++) {
      const response = await boundedGet(app, '/api/v4/limited/first');
      t.is(response.status, 200);
      t.deepEqual(response.body, { action: 'first' });
    }
    const readiness = await boundedGet(app, '/-/readiness');
    t.is(readiness.status, 503, 'readiness reports the outage');
    t.is(readiness.body.checks.redis.status, 'failed');
  } finally {
    await app.close();
  }
});

test('Redis unreachable with failOpen false: 503 at once, never a hang', async (t) => {
  const app = await startTestApp({ registry: [limitedPlugin], redis: false, config: { redis: { url: UNREACHABLE_REDIS, failOpen: false } } });
  try {
    const response = await boundedGet(app, '/api/v4/limited/first');
    t.is(response.status, 503);
    t.deepEqual(response.body, { message: '503 Service Unavailable' });
    t.is((await boundedGet(app, '/api/v4/limited/unlimited')).status, 200, 'routes without a limit do not need Redis');
  } finally {
    await app.close();
  }
});
