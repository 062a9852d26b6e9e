import test from 'ava';
import { UnauthorizedError } from '../../core/errors.js';
import { registry as defaultRegistry } from '../../core/plugins/registry.js';
import { definePlugin, type RouteAuth } from '../../core/plugins/types.js';
import { ALL_SCOPES } from '../../plugins/tokens/scopes.js';
import { ROOT_TOKEN, startTestApp, type TestApp } from '../helpers/app.js';

// What a strategy found reaches the handler on the principal, typed; what it needs per route is
// prepared once at boot.

/** The record the `badge` strategy resolves a presented badge to. */
interface Badge {
  holder: string;
  level: string;
}

declare module 'gatehouse' {
  interface CredentialKinds {
    test_badge: Badge;
  }
}

const BADGES: Record<string, Badge & { id: number }> = {
  'badge-ada': { id: 7, holder: 'ada', level: 'gold' },
  'badge-bob': { id: 8, holder: 'bob', level: 'silver' },
};

/** What `prepare` returned for each route, in call order: one entry per route, whatever the traffic. */
const preparedFor: Array<{ route: string; level: string }> = [];
/** Every prepared value `authenticate` was handed. */
const seenByAuthenticate = new Set<object>();

const badgeAuth = (level: string): RouteAuth => ({ strategy: 'badge', scopes: [level] });

const badges = definePlugin({
  name: 'badges',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'Routes behind a badge, and one behind a token.',
  dependsOn: ['tokens'],
  authStrategies: {
    badge: () => ({
      prepare(auth, route) {
        const prepared = Object.freeze({ route: route.name, level: 'scopes' in auth && auth.scopes ? auth.scopes[0] : '' });
        preparedFor.push(prepared);
        return prepared;
      },
      authenticate(ctx, _auth, prepared: { route: string; level: string }) {
        seenByAuthenticate.add(prepared);
        const badge = BADGES[ctx.get('X-Badge')];
        if (!badge || badge.level !== prepared.level) throw new UnauthorizedError();
        return { kind: 'service', service: badge.holder, credential: { type: 'test_badge', id: badge.id, details: badge } };
      },
    }),
  },
  routes: [
    {
      name: 'badges.gold',
      method: 'GET',
      path: '/api/v4/badges/gold',
      auth: badgeAuth('gold'),
      handler(ctx) {
        const credential = ctx.state.principal!.credential!;
        if (credential.type !== 'test_badge') throw new Error(`unexpected credential ${credential.type}`);
        ctx.body = { id: credential.id, holder: credential.details.holder, level: credential.details.level };
      },
    },
    {
      name: 'badges.silver',
      method: 'POST',
      path: '/api/v4/badges/silver',
      auth: badgeAuth('silver'),
      handler(ctx) {
        ctx.body = { holder: ctx.state.principal!.service };
      },
    },
    {
      name: 'badges.token',
      method: 'GET',
      path: '/api/v4/badges/token',
      auth: { strategy: 'token' },
      handler(ctx) {
        // Another plugin's credential, typed through the kinds it declares, without importing it.
        const credential = ctx.state.principal!.credential!;
        if (credential.type !== 'personal_access_token') throw new Error(`unexpected credential ${credential.type}`);
        ctx.body = { id: credential.id, name: credential.details.name, scopes: credential.details.scopes, user_id: credential.details.userId };
      },
    },
  ],
});

let app: TestApp;
test.before(async () => {
  app = await startTestApp({ registry: [...defaultRegistry, badges] });
});
test.after.always(async () => {
  await app?.close();
});

test.serial('prepare runs once per route naming the strategy, at boot', async (t) => {
  t.deepEqual(
    preparedFor.map(({ route, level }) => ({ route, level })),
    [
      { route: 'badges.gold', level: 'gold' },
      { route: 'badges.silver', level: 'silver' },
    ],
  );
  for (let i = 0; i < 3; i++) {
    t.is((await app.request('/api/v4/badges/gold', { headers: { 'X-Badge': 'badge-ada' } })).status, 200);
    t.is((await app.request('/api/v4/badges/silver', { method: 'POST', headers: { 'X-Badge': 'badge-bob' } })).status, 200);
    t.is((await app.request('/api/v4/badges/gold', { headers: { 'X-Badge': 'badge-bob' } })).status, 401);
  }
  t.is(preparedFor.length, 2, 'no request prepared again');
  // Each request was handed its own route's value, the one object prepared for it.
  t.deepEqual([...seenByAuthenticate], preparedFor);
});

test('the handler reads the credential the strategy resolved from the principal', async (t) => {
  const gold = await app.request('/api/v4/badges/gold', { headers: { 'X-Badge': 'badge-ada' } });
  t.is(gold.status, 200);
  t.deepEqual(gold.body, { id: 7, holder: 'ada', level: 'gold' });
  const wrongLevel = await app.request('/api/v4/badges/gold', { headers: { 'X-Badge': 'badge-bob' } });
  t.is(wrongLevel.status, 401);
  t.deepEqual(wrongLevel.body, { message: '401 Unauthorized' });
});

test('a dependant reads the token row the token strategy resolved, without asking the database again', async (t) => {
  const row = await app.db('tokens_personal_access_tokens').where({ name: 'root bootstrap token' }).first();
  const expected = { id: row.id, name: 'root bootstrap token', scopes: [...ALL_SCOPES], user_id: row.user_id };
  const first = await app.request('/api/v4/badges/token', { token: ROOT_TOKEN });
  t.is(first.status, 200);
  t.deepEqual(first.body, expected);

  // The token is cached now: authenticating and answering takes no query at all.
  let queries = 0;
  const count = () => void queries++;
  app.db.on('query', count);
  try {
    const again = await app.request('/api/v4/badges/token', { token: ROOT_TOKEN });
    t.is(again.status, 200);
    t.deepEqual(again.body, expected);
    const self = await app.request('/api/v4/personal_access_tokens/self', { token: ROOT_TOKEN });
    t.is(self.status, 200);
    t.is(self.body.id, row.id);
  } finally {
    app.db.removeListener('query', count);
  }
  t.is(queries, 0);
});
