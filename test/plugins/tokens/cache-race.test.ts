import test from 'ava';
import { startTestApp, ROOT_TOKEN, TEST_DATABASE_URL, TEST_REDIS_URL, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';

/**
 * A write that takes a user's access away (block, demotion, deletion) racing a stream of that user's
 * own requests: the very next request after the write's answer is refused, on the instance that wrote
 * and on the other one (PostgreSQL + Redis; on SQLite, one instance), in every trial. The caches live
 * for an hour here, so only invalidation can pass.
 */
const TRIALS = 50;
const CONCURRENT = 50;
/** Tokens per user: reads of cold ones fill the caches while the write runs. */
const TOKENS_PER_USER = 4;
const HOUR = 3_600_000;

interface Kind {
  admin: boolean;
  /** A route the user may call before the write, and not after. */
  path: string;
  write: (userId: number) => { path: string; method: string; body?: unknown; status: number };
  refused: { status: number; body: unknown };
}

const KINDS: Record<'block' | 'demote' | 'delete', Kind> = {
  block: {
    admin: false,
    path: '/api/v4/user',
    write: (id) => ({ path: `/api/v4/users/${id}/block`, method: 'POST', status: 201 }),
    refused: { status: 403, body: { message: '403 Forbidden - Your account has been blocked.' } },
  },
  demote: {
    admin: true,
    path: '/api/v4/applications',
    write: (id) => ({ path: `/api/v4/users/${id}`, method: 'PUT', body: { admin: false }, status: 200 }),
    refused: { status: 403, body: { message: '403 Forbidden' } },
  },
  delete: {
    admin: false,
    path: '/api/v4/user',
    write: (id) => ({ path: `/api/v4/users/${id}`, method: 'DELETE', status: 204 }),
    refused: { status: 401, body: { message: '401 Unauthorized' } },
  },
};

const twoInstances = Boolean(TEST_DATABASE_URL && TEST_REDIS_URL);
let a: TestApp;
let b: TestApp;
test.before(async () => {
  const config = { plugins: { tokens: { principalCacheTtlMs: HOUR }, directory: { readCacheTtlMs: HOUR } } };
  a = await startTestApp({ config });
  b = twoInstances ? await startTestApp({ config, joining: a }) : a;
});
test.after.always(async () => {
  if (b !== a) await b?.close();
  await a?.close();
});

/** One trial; returns the answers that were not refused (each a failure). */
async function trial(kind: Kind): Promise<string[]> {
  const { user, plaintext } = await createUserWithToken(a, ['api'], { admin: kind.admin });
  const tokens = [plaintext];
  for (let i = 1; i < TOKENS_PER_USER; i++) tokens.push((await a.services.tokens.tokens.create(user, { name: `t${i}`, scopes: ['api'] })).plaintext);
  // Both instances cache the first token (and the user) before the race.
  for (const app of new Set([a, b])) {
    const warm = await app.request(kind.path, { token: plaintext });
    if (warm.status !== 200) throw new Error(`warm-up answered ${warm.status} ${warm.text}`);
  }

  let racing = true;
  const failures: string[] = [];
  const workers = Array.from({ length: CONCURRENT }, async (_, n) => {
    for (let i = 0; racing; i++) {
      // Requests in flight while the write commits may pass or be refused, but never fail.
      const racer = await (n % 2 ? b : a).request(kind.path, { token: tokens[(n + i) % tokens.length] });
      if (racer.status >= 500) failures.push(`a racing request answered ${racer.status} ${racer.text}`);
    }
  });
  const write = kind.write(user.id);
  const written = await a.request(write.path, { method: write.method, token: ROOT_TOKEN, body: write.body });
  if (written.status !== write.status) failures.push(`write answered ${written.status} ${written.text}`);
  // The very next requests after the answer: every token, on the other instance first.
  for (const app of new Set([b, a])) {
    for (const token of tokens) {
      const next = await app.request(kind.path, { token });
      if (next.status !== kind.refused.status || JSON.stringify(next.body) !== JSON.stringify(kind.refused.body)) {
        failures.push(`${app === a ? 'A' : 'B'} answered ${next.status} ${next.text}`);
      }
    }
  }
  racing = false;
  await Promise.all(workers);
  return failures;
}

for (const [name, kind] of Object.entries(KINDS)) {
  test.serial(`${name}: racing ${CONCURRENT} concurrent requests (none ≥ 500), refused on the very next request in every one of ${TRIALS} trials (${twoInstances ? 'two instances' : 'one instance'})`, async (t) => {
    // A guard against a hang, not a speed check: 50 trials of 50 racers take minutes on a busy 2-core machine.
    t.timeout(600_000);
    let failedTrials = 0;
    const examples: string[] = [];
    for (let i = 0; i < TRIALS; i++) {
      const failures = await trial(kind);
      if (failures.length) {
        failedTrials += 1;
        examples.push(...failures.slice(0, 2));
      }
    }
    t.log(`${name}: ${failedTrials} of ${TRIALS} trials let a request through after the write's answer or answered ≥ 500`);
    t.is(failedTrials, 0, examples.slice(0, 5).join('\n'));
  });
}
