import test from 'ava';
import { parse } from 'graphql';
import { ROOT_TOKEN, TEST_REDIS_URL, startTestApp, type TestApp } from '../../helpers/app.js';
import { filterFutureFields } from '../../../plugins/code-suggestions/gl-introduced.js';
import { GRAPHQL, RATE_LIMITED, post, userWithToken } from './_support.js';

let app: TestApp;
let token: string;
test.before(async () => {
  app = await startTestApp();
  token = (await userWithToken(app, ['read_api'])).plaintext;
  // The first query loads graphql-js and builds the schema, the first refusal compiles the limits:
  // timings below are of warm requests.
  await query({ query: '{ metadata { version } }' });
  await query({ query: fragmentBomb(3, 'id') + ' query other { metadata { version } }', operationName: 'bomb' });
});
test.after.always(async () => {
  await app?.close();
});

function query(body: unknown, as = token) {
  return post(app, GRAPHQL, { token: as, body });
}

/** Each of `levels` fragments spreads the next one twice: the expanded query has 2^(levels-1) leaves. */
function fragmentBomb(levels: number, leaf: string) {
  let document = 'query bomb{currentUser{...F0}}';
  for (let i = 0; i < levels; i++) document += `\nfragment F${i} on CurrentUser{${i + 1 < levels ? `...F${i + 1} ...F${i + 1}` : leaf}}`;
  return document;
}

/** Fields nested `depth` deep: `{ a { a { … b } } }`. */
const nested = (depth: number) => `{${'a{'.repeat(depth - 1)}b${'}'.repeat(depth - 1)}}`;
/** `count` selections of `id` under currentUser, each with its own alias. */
const aliases = (count: number) => Array.from({ length: count }, (_, i) => `a${i}: id`).join(' ');
const projectIds = (count: number) => Array.from({ length: count }, (_, i) => `gid://gitlab/Project/${i + 1_000_000}`);
const GET_PROJECTS = 'query GetProjectsDuoEnabledStatusById($projectIds: [ID!]!) { projects(ids: $projectIds) { edges { node { id duoFeaturesEnabled } } } }';
const error = (message: string, extra: Record<string, unknown> = {}) => ({ errors: [{ message, ...extra }] });

/** One bomb, and a /-/health request started while it is in flight: both answers and their times. */
async function bombWithHealth(bomb: string) {
  const started = performance.now();
  const inFlight = query({ query: bomb, operationName: 'bomb' }).then((response) => ({ response, ms: performance.now() - started }));
  const healthStarted = performance.now();
  const health = await app.request('/-/health');
  const healthMs = performance.now() - healthStarted;
  return { ...(await inFlight), health, healthMs };
}

// Serial: ava runs serial tests before the concurrent ones, so no other test of this file shares the
// event loop with it. The fastest of five tries is held to the bound: other processes on a busy
// machine can delay any one request, while a bomb that blocked the event loop would delay them all.
test.serial('a fragment bomb is refused by its complexity before anything runs, and /-/health sent meanwhile is answered', async (t) => {
  const bomb = fragmentBomb(22, 'id');
  t.true(bomb.length < 1_024, `the attack fits in a kilobyte (${bomb.length} bytes)`);
  const tries = [];
  for (let i = 0; i < 5; i++) {
    const attempt = await bombWithHealth(bomb);
    t.is(attempt.response.status, 200);
    t.deepEqual(attempt.response.body, error('Query has complexity of 2097153, which exceeds max complexity of 250'));
    t.is(attempt.health.status, 200);
    tries.push(attempt);
  }
  // Before, the bomb held the event loop for 5.5 s.
  const bombMs = Math.min(...tries.map((attempt) => attempt.ms));
  const healthMs = Math.min(...tries.map((attempt) => attempt.healthMs));
  // Reported, not asserted: timings depend on the machine (about 4–10 ms and 3–5 ms on an idle one).
  t.log(`bomb ${bombMs.toFixed(1)} ms, /-/health ${healthMs.toFixed(1)} ms (fastest of 5)`);
});

test('fields of later versions are nulled by a walk of the document, not of the expanded query (40 levels of fragments)', (t) => {
  // 2^39 expansions of the leaf fragment: walked as the document, that is 40 fragments and one object.
  const filtered = filterFutureFields(parse(fragmentBomb(40, 'id later @gl_introduced(version: "99.0.0") { anything }')), '17.11.0');
  const data = { currentUser: { id: 'gid://gitlab/User/1', later: 'CurrentUser' } };
  filtered.nullFutureFields(data, 'bomb');
  t.deepEqual(data, { currentUser: { id: 'gid://gitlab/User/1', later: null } });
});

test('a query over 10 000 characters is refused with GitLab\'s 422 "Query too large"; one of 10 000 is answered', async (t) => {
  const document = '{ metadata { version } }';
  const padded = (size: number) => document + ' '.repeat(size - document.length);
  const atLimit = await query({ query: padded(10_000) });
  t.is(atLimit.status, 200);
  t.deepEqual(atLimit.body, { data: { metadata: { version: '17.11.0' } } });
  const over = await query({ query: padded(10_001) });
  t.is(over.status, 422);
  t.deepEqual(over.body, error('Query too large'));
  // Characters, as GitLab counts them: 10 000 of them in 20 000 UTF-16 units are not too large.
  const wide = `{ metadata { version } } #${'𝔤'.repeat(10_000 - document.length - 2)}`;
  t.is([...wide].length, 10_000);
  t.is((await query({ query: wide })).status, 200);
});

test('depth: 20 is allowed, 21 is refused with graphql-ruby\'s message; fragments count where they are spread, inline fragments and __typename do not', async (t) => {
  // Depth 20 passes the limit and reaches validation (this schema has no field `a`).
  const twenty = await query({ query: nested(20) });
  t.is(twenty.status, 200);
  t.deepEqual(twenty.body, error('Cannot query field "a" on type "Query".', { locations: [{ line: 1, column: 2 }] }));
  const deep = await query({ query: nested(21) });
  t.is(deep.status, 200);
  t.deepEqual(deep.body, error('Query has depth of 21, which exceeds max depth of 20'));

  const throughFragment = await query({ query: `{ a { ...F } } fragment F on A ${nested(20)}` });
  t.deepEqual(throughFragment.body, error('Query has depth of 21, which exceeds max depth of 20'));
  const otherOperation = await query({ query: `query small { metadata { version } } query big ${nested(21)}`, operationName: 'small' });
  t.deepEqual(otherOperation.body, error('Query has depth of 21, which exceeds max depth of 20'), 'validation would walk the other operation too');
  const inline = `{ currentUser { ${'... on CurrentUser { '.repeat(25)}id${' }'.repeat(25)} } }`;
  t.deepEqual((await query({ query: inline })).body, { data: { currentUser: { id: (await currentUserId()) } } });
  const typename = `${'{a'.repeat(20)}{__typename}${'}'.repeat(20)}`;
  t.deepEqual((await query({ query: typename })).body, error('Cannot query field "a" on type "Query".', { locations: [{ line: 1, column: 2 }] }));
});

async function currentUserId() {
  return (await query({ query: '{ currentUser { id } }' })).body.data.currentUser.id as string;
}

test('a query nested 5 000 deep is too large; 3 000 deep (within 10 000 characters) answers the depth error, never a stack overflow', async (t) => {
  const fiveThousand = await query({ query: nested(5_000) });
  t.is(fiveThousand.status, 422);
  t.deepEqual(fiveThousand.body, error('Query too large'));
  const threeThousand = await query({ query: nested(3_000) });
  t.is(threeThousand.status, 200);
  t.deepEqual(threeThousand.body, error('Query has depth of 3000, which exceeds max depth of 20'));
  // Just under the depth the parser is spared: measured on the parsed query, as graphql-ruby does.
  t.deepEqual((await query({ query: nested(100) })).body, error('Query has depth of 100, which exceeds max depth of 20'));
  const values = await query({ query: `{ featureFlagEnabled(name: ${'['.repeat(3_000)}"x"${']'.repeat(3_000)}) }` });
  t.is(values.status, 200);
  t.deepEqual(values.body, error('Query nests values 3000 deep, which exceeds max nesting of 100'));
  const unterminated = await query({ query: `${'{a'.repeat(3_000)}(name: "x` });
  t.deepEqual(unterminated.body, error('Syntax Error: Unterminated string.', { locations: [{ line: 1, column: 6_010 }] }));
});

test('complexity: 250 fields for a user and 300 for an admin are answered, one more is refused', async (t) => {
  // Three currentUser fields and `ids` ids under them, no selection over 100 fields: 3 + ids.
  const document = (ids: number) => `{ a: currentUser { ${aliases(100)} } b: currentUser { ${aliases(100)} } c: currentUser { ${aliases(ids - 200)} } }`;
  const allowed = await query({ query: document(247) });
  t.is(allowed.status, 200);
  t.is(Object.keys(allowed.body.data.c).length, 47);
  t.deepEqual((await query({ query: document(248) })).body, error('Query has complexity of 251, which exceeds max complexity of 250'));

  const asAdmin = await query({ query: document(297) }, ROOT_TOKEN);
  t.is(asAdmin.status, 200);
  t.is(Object.keys(asAdmin.body.data.c).length, 97);
  t.deepEqual((await query({ query: document(298) }, ROOT_TOKEN)).body, error('Query has complexity of 301, which exceeds max complexity of 300'));
  t.deepEqual((await query({ query: document(297) })).body, error('Query has complexity of 300, which exceeds max complexity of 250'));

  // Validation walks every definition: a fragment the operation does not spread is held to the limit too.
  const unused = await query({ query: `{ metadata { version } } ${fragmentBomb(22, 'id').replace('query bomb{currentUser{...F0}}', '')}` });
  t.deepEqual(unused.body, error('Query has complexity of 2097152, which exceeds max complexity of 250'));
});

test('more than 100 fields in one selection are refused; 5 000 aliases are too large a query', async (t) => {
  const hundred = await query({ query: `{ currentUser { ${aliases(100)} } }` });
  t.is(hundred.status, 200);
  t.is(Object.keys(hundred.body.data.currentUser).length, 100);
  const wide = await query({ query: `{ currentUser { ${aliases(101)} } }` });
  t.is(wide.status, 200);
  t.deepEqual(wide.body, error('Query has 101 fields in one selection, which exceeds max fields per selection of 100', { locations: [{ line: 1, column: 15 }] }));
  // As many as 10 000 characters hold: the selection is refused before validation compares its fields pairwise.
  const many = await query({ query: `{currentUser{${'id '.repeat(3_000)}}}` });
  t.deepEqual(many.body, {
    errors: [
      { message: 'Query has 3000 fields in one selection, which exceeds max fields per selection of 100', locations: [{ line: 1, column: 13 }] },
      { message: 'Query has complexity of 3001, which exceeds max complexity of 250' },
    ],
  });
  const fiveThousand = await query({ query: `{ currentUser { ${aliases(5_000)} } }` });
  t.is(fiveThousand.status, 422);
  t.deepEqual(fiveThousand.body, error('Query too large'));
});

test('a list argument over 100 items is refused before any lookup, as a variable (20 000 ids) or written in the query', async (t) => {
  const hundred = await query({ query: GET_PROJECTS, variables: { projectIds: projectIds(100) } });
  t.is(hundred.status, 200);
  t.deepEqual(hundred.body, { data: { projects: { edges: [] } } });
  const refused = error('ids is too long (maximum is 100)', { locations: [{ line: 1, column: 71 }] });
  for (const count of [101, 20_000]) {
    const response = await query({ query: GET_PROJECTS, variables: { projectIds: projectIds(count) } });
    t.is(response.status, 200);
    t.deepEqual(response.body, refused, `${count} ids`);
  }
  const written = await query({ query: `{ projects(ids: ${JSON.stringify(projectIds(101))}) { nodes { id } } }` });
  t.deepEqual(written.body, error('ids is too long (maximum is 100)', { locations: [{ line: 1, column: 12 }] }));
  const flags = await query({ query: 'query f($names: [String!]!) { metadata { featureFlags(names: $names) { name } } }', variables: { names: Array(101).fill('x') } });
  t.deepEqual(flags.body, error('names is too long (maximum is 100)', { locations: [{ line: 1, column: 55 }] }));
});

test('aliases asking for the same projects read each project once per request, and at most 100 distinct ids are read', async (t) => {
  const own = await startTestApp();
  try {
    const { plaintext } = await userWithToken(own, ['read_api']);
    let statements = 0;
    own.db.on('query', () => statements++);
    const statementsFor = async (aliasCount: number, firstId: number) => {
      const ids = Array.from({ length: 100 }, (_, i) => `gid://gitlab/Project/${firstId + i}`);
      const document = `query many($ids: [ID!]!) { ${Array.from({ length: aliasCount }, (_, i) => `p${i}: projects(ids: $ids) { nodes { id } }`).join(' ')} }`;
      const before = statements;
      const response = await post(own, GRAPHQL, { token: plaintext, body: { query: document, variables: { ids } } });
      t.is(response.status, 200);
      t.deepEqual(response.body.data.p0, { nodes: [] });
      t.is(Object.keys(response.body.data).length, aliasCount);
      return statements - before;
    };
    // The first request also reads the token; later ones ask for different ids, so no cache answers them.
    await statementsFor(1, 1_000_000);
    const once = await statementsFor(1, 2_000_000);
    t.true(once >= 100, `one alias: ${once} statements`);
    t.is(await statementsFor(60, 3_000_000), once, 'sixty aliases: the same statements as one');

    // Distinct ids over all aliases are a page at most: the second hundred is refused unread.
    const before = statements;
    const twoPages = await post(own, GRAPHQL, {
      token: plaintext,
      body: { query: 'query two($a: [ID!]!, $b: [ID!]!) { a: projects(ids: $a) { nodes { id } } b: projects(ids: $b) { nodes { id } } }', variables: { a: projectIds(100), b: projectIds(101).slice(1) } },
    });
    t.is(twoPages.status, 200);
    t.deepEqual(twoPages.body, {
      errors: [{ message: 'projects can look up at most 100 ids per query', locations: [{ line: 1, column: 75 }], path: ['b'] }],
      data: { a: { nodes: [] }, b: null },
    });
    t.is(statements - before, once);
  } finally {
    await own.close();
  }
});

test('fragment cycles are reported by validation, never followed', async (t) => {
  const response = await query({ query: '{ currentUser { ...A } } fragment A on CurrentUser { id ...B } fragment B on CurrentUser { ...A ...B }' });
  t.is(response.status, 200);
  t.deepEqual(response.body, {
    errors: [
      { message: 'Cannot spread fragment "A" within itself via "B".', locations: [{ line: 1, column: 57 }, { line: 1, column: 92 }] },
      { message: 'Cannot spread fragment "B" within itself.', locations: [{ line: 1, column: 97 }] },
    ],
  });
});

async function assertRateLimit(t: import('ava').ExecutionContext, limited: TestApp) {
  const { plaintext } = await userWithToken(limited, ['read_api']);
  const other = await userWithToken(limited, ['read_api']);
  const ask = (as: string) => post(limited, GRAPHQL, { token: as, body: { query: '{ metadata { version } }' } });
  for (let i = 0; i < 3; i++) t.is((await ask(plaintext)).status, 200, `request ${i + 1}`);
  const refused = await ask(plaintext);
  t.is(refused.status, 429);
  t.deepEqual(refused.body, RATE_LIMITED);
  t.is(refused.headers.get('retry-after'), '3600');
  t.deepEqual((await ask(other.plaintext)).body, { data: { metadata: { version: '17.11.0' } } }, 'the limit is per user');
}

test('GraphQL is rate-limited per user (graphqlRateLimit per hour): in-process store', async (t) => {
  const limited = await startTestApp({ redis: false, config: { plugins: { 'code-suggestions': { graphqlRateLimit: 3 } } } });
  try {
    t.is(limited.gateway.redis, undefined);
    await assertRateLimit(t, limited);
  } finally {
    await limited.close();
  }
});

if (TEST_REDIS_URL) {
  test('GraphQL is rate-limited per user (graphqlRateLimit per hour): Redis', async (t) => {
    const limited = await startTestApp({ config: { plugins: { 'code-suggestions': { graphqlRateLimit: 3 } } } });
    try {
      t.truthy(limited.gateway.redis);
      await assertRateLimit(t, limited);
    } finally {
      await limited.close();
    }
  });
} else {
  test.skip('Redis GraphQL rate-limit test skipped: GATEHOUSE_TEST_REDIS_URL is not set', () => {});
}

test('the default GraphQL limit is 7 200 requests per hour per user, GitLab\'s figure for authenticated API requests', (t) => {
  t.is(app.gateway.config.plugins['code-suggestions'].graphqlRateLimit, 7_200);
});
