import test from 'ava';
import { TEST_REDIS_URL } from '../../helpers/app.js';
import {
  COMPLETIONS,
  CONNECTION_DETAILS,
  DIRECT_ACCESS,
  ORIGIN_HEADER,
  RATE_LIMITED,
  completionBody,
  post,
  startCsApp,
  userWithToken,
  type CsApp,
} from './_support.js';

/** Each route's limit, small enough to reach; windows are GitLab's (direct_access: the original API's 5 minutes). */
const LIMITS = { completionsRateLimit: 3, directAccessRateLimit: 2, connectionDetailsRateLimit: 2 };

async function assertLimits(t: import('ava').ExecutionContext, cs: CsApp) {
  const cases: Array<[string, number, string, unknown]> = [
    [COMPLETIONS, LIMITS.completionsRateLimit, '60', completionBody()],
    [DIRECT_ACCESS, LIMITS.directAccessRateLimit, '300', { project_path: '' }],
    [CONNECTION_DETAILS, LIMITS.connectionDetailsRateLimit, '60', {}],
  ];
  const { plaintext } = await userWithToken(cs.app);
  const other = await userWithToken(cs.app);
  for (const [path, max, retryAfter, body] of cases) {
    for (let i = 0; i < max; i++) t.true((await post(cs.app, path, { token: plaintext, body })).status < 300, `${path} #${i + 1}`);
    const limited = await post(cs.app, path, { token: plaintext, body });
    t.is(limited.status, 429, path);
    t.deepEqual(limited.body, RATE_LIMITED);
    t.is(limited.headers.get('retry-after'), retryAfter);
    t.is(limited.headers.get(ORIGIN_HEADER), 'monolith');
    t.deepEqual(cs.fake.received(limited.requestId), [], 'a limited request is not sent upstream');
    // Limits are per user.
    t.true((await post(cs.app, path, { token: other.plaintext, body })).status < 300, `${path} for another user`);
  }
}

test('rate limits per user on completions (60/min), direct_access (per 5 min) and connection_details: in-process store', async (t) => {
  const cs = await startCsApp({ redis: false, pluginConfig: LIMITS });
  try {
    t.is(cs.app.gateway.redis, undefined);
    await assertLimits(t, cs);
  } finally {
    await cs.close();
  }
});

if (TEST_REDIS_URL) {
  test('rate limits per user on completions, direct_access and connection_details: Redis', async (t) => {
    const cs = await startCsApp({ pluginConfig: LIMITS });
    try {
      t.truthy(cs.app.gateway.redis);
      await assertLimits(t, cs);
    } finally {
      await cs.close();
    }
  });
} else {
  test.skip('Redis rate-limit tests skipped: GATEHOUSE_TEST_REDIS_URL is not set', () => {});
}

test('default limits: 60 completions per minute, 10 direct_access per 5 minutes (the original API\'s figure), 10 connection_details per minute', async (t) => {
  const cs = await startCsApp({ redis: false });
  try {
    const config = cs.app.gateway.config.plugins['code-suggestions'];
    t.like(config, { completionsRateLimit: 60, directAccessRateLimit: 10, connectionDetailsRateLimit: 10 });
    const { plaintext } = await userWithToken(cs.app);
    for (let i = 0; i < 10; i++) t.is((await post(cs.app, DIRECT_ACCESS, { token: plaintext, body: {} })).status, 201);
    t.is((await post(cs.app, DIRECT_ACCESS, { token: plaintext, body: {} })).status, 429);
  } finally {
    await cs.close();
  }
});
