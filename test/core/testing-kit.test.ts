import test from 'ava';
import { definePlugin, ForbiddenError, z } from 'gatehouse';
import { DEFAULT_SHIPPED_PLUGINS, startGateway, TestClock, type TestGateway } from 'gatehouse/testing';
import { PluginLoadError } from '../../core/plugins/loader.js';
import { registry } from '../../core/plugins/registry.js';

// gatehouse/testing, the kit plugin authors test with: which plugins it enables, the root admin and
// users it hands out, flags set at start and later, the clock, config slices, and boot problems.

const shippedNames = registry.map((plugin) => plugin.name);

/** A plugin as an author writes one: a config slice, a flag, a token route and an admin-only route. */
const greeter = definePlugin({
  name: 'greeter',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'Greets.',
  config: z.object({ greeting: z.string().default('hello').describe('What to say.') }),
  flags: [{ name: 'greeter_api', kind: 'release', default: true, description: 'Serve the greeter.' }],
  services: ({ config, clock }) => ({ greeting: config.greeting, clock }),
  routes: [
    {
      name: 'greeter.greet',
      method: 'GET',
      path: '/api/v4/greeting',
      auth: { strategy: 'token', scopes: ['read_api', 'api'] },
      flag: 'greeter_api',
      handler(ctx, _input, services) {
        ctx.body = { greeting: `${services.greeting}, ${ctx.state.principal!.user!.username}`, at: services.clock.now().toISOString() };
      },
    },
    {
      name: 'greeter.admin',
      method: 'GET',
      path: '/api/v4/greeting/admin',
      auth: { strategy: 'admin' },
      handler(ctx) {
        if (ctx.query.refuse) throw new ForbiddenError('as asked');
        ctx.body = { admin: true };
      },
    },
  ],
});

async function boot(t: { teardown(fn: () => Promise<void>): void }, options: Parameters<typeof startGateway>[0]): Promise<TestGateway> {
  const gateway = await startGateway(options);
  t.teardown(() => gateway.close());
  return gateway;
}

test('by default the plugins under test run with directory and tokens, and the root token is an admin token', async (t) => {
  const gateway = await boot(t, { plugins: [greeter] });
  t.deepEqual(DEFAULT_SHIPPED_PLUGINS, ['directory', 'tokens']);
  t.deepEqual(
    gateway.gateway.plugins.map((plugin) => plugin.name),
    ['directory', 'tokens', 'greeter'],
  );
  t.is(gateway.gateway.config.externalUrl, gateway.url);
  t.is(gateway.gateway.config.db.client, 'sqlite3');
  t.regex(gateway.rootToken, /^glpat-[0-9a-f]{32}$/);

  const greeted = await gateway.request('/api/v4/greeting', { token: gateway.rootToken });
  t.is(greeted.status, 200);
  t.deepEqual(greeted.body, { greeting: 'hello, root', at: '2026-11-22T10:00:00.000Z' });
  t.deepEqual((await gateway.request('/api/v4/greeting/admin', { token: gateway.rootToken })).body, { admin: true });
  const refused = await gateway.request('/api/v4/greeting/admin?refuse=1', { token: gateway.rootToken });
  t.is(refused.status, 403);
  t.deepEqual(refused.body, { message: '403 Forbidden - as asked' });
});

test('createUser hands out users with tokens of the given scopes', async (t) => {
  const gateway = await boot(t, { plugins: [greeter] });
  const reader = await gateway.createUser({ username: 'reader', scopes: ['read_api'] });
  t.like(reader.user, { username: 'reader', isAdmin: false });
  t.deepEqual((await gateway.request('/api/v4/greeting', { token: reader.token })).body.greeting, 'hello, reader');
  const notAdmin = await gateway.request('/api/v4/greeting/admin', { token: reader.token });
  t.is(notAdmin.status, 403);
  t.deepEqual(notAdmin.body, { message: '403 Forbidden' });

  const other = await gateway.createUser({ scopes: ['read_user'] });
  const wrongScope = await gateway.request('/api/v4/greeting', { token: other.token });
  t.is(wrongScope.status, 403);
  t.is(wrongScope.body.error, 'insufficient_scope');

  const admin = await gateway.createUser({ admin: true });
  t.deepEqual((await gateway.request('/api/v4/greeting/admin', { token: admin.token })).body, { admin: true });
  t.deepEqual(await gateway.db('directory_users').orderBy('id').pluck('username'), ['root', 'reader', other.user.username, admin.user.username]);
});

test('flags start from the manifests, take overrides at start and can be set at any time; the clock moves', async (t) => {
  const clock = new TestClock('2030-01-01T00:00:00Z');
  const gateway = await boot(t, { plugins: [greeter], flags: { greeter_api: false }, clock, rootToken: 'glpat-a-root-token-of-my-own' });
  t.is(gateway.rootToken, 'glpat-a-root-token-of-my-own');
  const hidden = await gateway.request('/api/v4/greeting', { token: gateway.rootToken });
  t.is(hidden.status, 404);
  t.deepEqual(hidden.body, { message: '404 Not Found' });

  gateway.flags.set('greeter_api', true);
  clock.advance(60_000);
  t.deepEqual((await gateway.request('/api/v4/greeting', { token: gateway.rootToken })).body, { greeting: 'hello, root', at: '2030-01-01T00:01:00.000Z' });
});

test('config reaches the plugin slices; shipped plugins are all enabled with shipped: true, or named', async (t) => {
  const configured = await boot(t, { plugins: [greeter], config: { plugins: { greeter: { greeting: 'ahoy' } } } });
  t.is((await configured.request('/api/v4/greeting', { token: configured.rootToken })).body.greeting, 'ahoy, root');

  const everything = await boot(t, { plugins: [greeter], shipped: true });
  t.deepEqual(
    everything.gateway.plugins.map((plugin) => plugin.name),
    [...shippedNames, 'greeter'],
  );
  const named = await boot(t, { shipped: ['subscriptions'] });
  t.deepEqual(
    named.gateway.plugins.map((plugin) => plugin.name),
    ['directory', 'tokens', 'subscriptions'],
  );
  // A plugin enabled in config is enabled whatever `shipped` says.
  const byConfig = await boot(t, { config: { plugins: { 'oauth-applications': { enabled: true } } } });
  t.true(byConfig.gateway.plugins.some((plugin) => plugin.name === 'oauth-applications'));
});

test('the shipped plugins a plugin under test depends on are enabled with it, even with shipped: false', async (t) => {
  const dependant = definePlugin({ name: 'dependant', version: '1.0.0', core: '^1.0.0', description: 'Needs internal-api.', dependsOn: ['internal-api'] as never[] });
  const gateway = await boot(t, { plugins: [dependant], shipped: false });
  t.deepEqual(
    gateway.gateway.plugins.map((plugin) => plugin.name),
    ['directory', 'tokens', 'internal-api', 'dependant'],
  );
});

test('a plugin breaking the loader rules stops boot with every problem listed', async (t) => {
  const broken = definePlugin({
    name: 'broken',
    version: '1.0.0',
    core: '^2.0.0',
    description: 'Breaks rules.',
    routes: [{ name: 'broken.get', method: 'GET', path: '/api/v4/broken', auth: { strategy: 'kerberos' }, handler() {} }],
  });
  const error = await t.throwsAsync(startGateway({ plugins: [broken] }), { instanceOf: PluginLoadError });
  t.deepEqual(error!.problems, [
    'plugin broken: needs core ^2.0.0, this core is 1.0.0',
    'route broken.get (GET /api/v4/broken) of plugin broken uses unknown auth strategy "kerberos"',
  ]);
});
