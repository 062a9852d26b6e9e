import test from 'ava';
import { loadConfig } from '../../core/config/loader.js';
import { createMemorySecretStore } from '../../core/config/secrets.js';
import { createStaticFlags } from '../../core/flags/resolver.js';
import { createGateway } from '../../core/gateway.js';
import { PluginLoadError, resolvePlugins, routesOf } from '../../core/plugins/loader.js';
import { registry } from '../../core/plugins/registry.js';
import { definePlugin, type AnyPluginManifest, type RouteDefinition } from '../../core/plugins/types.js';
import pino from 'pino';

const noop = () => {};

/** A minimal valid manifest; tests add what they need. */
function fakePlugin(name: string, extra: Partial<AnyPluginManifest> = {}): AnyPluginManifest {
  return definePlugin({ name, version: '1.0.0', core: '^1.0.0', description: `fixture ${name}`, ...extra }) as AnyPluginManifest;
}

const route = (plugin: string, action: string, extra: Partial<RouteDefinition<unknown>> = {}): RouteDefinition<unknown> => ({
  name: `${plugin}.${action}`,
  method: 'GET',
  path: `/api/v4/${plugin}/${action}`,
  auth: { strategy: 'none', reason: 'fixture' },
  handler: noop,
  ...extra,
});

const names = (plugins: readonly AnyPluginManifest[]) => plugins.map((p) => p.name);

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof PluginLoadError) return error.problems;
    throw error;
  }
  throw new Error('expected a PluginLoadError');
}

test('plugins come back in dependency order whatever the registry order', (t) => {
  const plugins = [
    fakePlugin('leaf', { dependsOn: ['middle', 'base'] as never }),
    fakePlugin('middle', { dependsOn: ['base'] as never }),
    fakePlugin('base'),
    fakePlugin('switched-off'),
  ];
  const ordered = resolvePlugins(plugins, new Set(['leaf', 'middle', 'base']));
  t.deepEqual(names(ordered), ['base', 'middle', 'leaf']);
});

test('a valid set with strategies, flags and limits loads', (t) => {
  const provider = fakePlugin('provider', {
    authStrategies: { custom: () => ({ authenticate: () => ({ kind: 'anonymous' }) }) },
    flags: [{ name: 'fixture_flag', kind: 'release', default: true, description: 'fixture' }],
  });
  const consumer = fakePlugin('consumer', {
    dependsOn: ['provider'] as never,
    routes: [route('consumer', 'read', { auth: { strategy: 'custom' }, flag: 'fixture_flag', rateLimit: { max: 1, windowMs: 1000, by: 'ip' } })],
  });
  t.deepEqual(names(resolvePlugins([consumer, provider], new Set(['provider', 'consumer']))), ['provider', 'consumer']);
});

test('every loader problem is listed at once in one PluginLoadError', (t) => {
  const tokens = fakePlugin('tokens', {
    authStrategies: { token: () => ({ authenticate: () => ({ kind: 'anonymous' }) }) },
  });
  const shell = fakePlugin('shell', {
    authStrategies: { gitlab_shell: () => ({ authenticate: () => ({ kind: 'service' }) }) },
  });
  const copycat = fakePlugin('copycat', {
    authStrategies: { gitlab_shell: () => ({ authenticate: () => ({ kind: 'service' }) }) },
  });
  const app = fakePlugin('app', {
    dependsOn: ['tokens', 'ghost'] as never,
    routes: [
      route('app', 'needs-token', { path: '/api/v4/things/:id', auth: { strategy: 'token', scopes: ['api'] } }),
      route('app', 'mystery-auth', { auth: { strategy: 'kerberos' } }),
      route('app', 'flagged', { flag: 'nobody_declared_this' }),
      route('app', 'same-path', { path: '/api/v4/things/:thing_id' }),
    ],
  });
  const chickenA = fakePlugin('chicken', { dependsOn: ['egg'] as never });
  const chickenB = fakePlugin('egg', { dependsOn: ['chicken'] as never });

  const problems = problemsOf(() =>
    resolvePlugins([tokens, shell, copycat, app, chickenA, chickenB], new Set(['shell', 'copycat', 'app', 'chicken', 'egg', 'imaginary'])),
  );
  const expected = [
    'unknown plugin "imaginary"',
    'plugin app depends on tokens, which is disabled',
    'plugin app depends on unknown plugin "ghost"',
    'auth strategy "gitlab_shell" is provided by both shell and copycat',
    'route app.needs-token (GET /api/v4/things/:id) of plugin app uses auth strategy "token", provided by plugin tokens, which is disabled',
    'route app.mystery-auth (GET /api/v4/app/mystery-auth) of plugin app uses unknown auth strategy "kerberos"',
    'route app.flagged (GET /api/v4/app/flagged) of plugin app uses undeclared flag "nobody_declared_this"',
    'duplicate route GET /api/v4/things/:thing_id: app.needs-token and app.same-path',
  ];
  for (const problem of expected) t.true(problems.includes(problem), `lists: ${problem}\n got: ${problems.join('\n      ')}`);
  t.true(
    problems.some((p) => /^dependency cycle: (chicken → egg → chicken|egg → chicken → egg)$/.test(p)),
    `lists the cycle; got ${problems.join('; ')}`,
  );
  t.is(problems.length, expected.length + 1, 'nothing else');
});

test('the error message carries every problem, one per line', (t) => {
  const error = t.throws(() => resolvePlugins([fakePlugin('a', { dependsOn: ['b', 'c'] as never })], new Set(['a'])), {
    instanceOf: PluginLoadError,
  });
  t.is(error!.message, 'cannot load plugins:\n  - plugin a depends on unknown plugin "b"\n  - plugin a depends on unknown plugin "c"');
});

test('routes that differ only by method are fine; the same method and path shape is a duplicate', (t) => {
  const plugin = fakePlugin('dup', {
    routes: [
      route('dup', 'get', { path: '/api/v4/x/:id' }),
      route('dup', 'delete', { method: 'DELETE', path: '/api/v4/x/:id' }),
      route('dup', 'get-again', { path: '/api/v4/x/:other' }),
    ],
  });
  t.deepEqual(problemsOf(() => resolvePlugins([plugin], new Set(['dup']))), [
    'duplicate route GET /api/v4/x/:other: dup.get and dup.get-again',
  ]);
});

test('manifest rules are enforced for enabled plugins', (t) => {
  const sloppy = fakePlugin('Sloppy_Name', {
    core: '^2.0.0',
    description: ' ',
    flags: [{ name: 'CamelFlag', kind: 'release', default: false, description: '' }],
    routes: [route('other', 'x', { path: 'api/v4/no-slash', auth: { strategy: 'none', reason: '' } })],
  });
  const problems = problemsOf(() => resolvePlugins([sloppy], new Set(['Sloppy_Name'])));
  t.true(problems.includes('plugin Sloppy_Name: name must be kebab-case'));
  t.true(problems.includes('plugin Sloppy_Name: needs core ^2.0.0, this core is 1.0.0'));
  t.true(problems.includes('plugin Sloppy_Name: description is empty'));
  t.true(problems.includes('plugin Sloppy_Name: flag "CamelFlag" must be snake_case'));
  t.true(problems.includes('plugin Sloppy_Name: flag "CamelFlag" has no description'));
  t.true(problems.some((p) => p.endsWith(': name must start with "Sloppy_Name."')));
  t.true(problems.some((p) => p.endsWith(': public route without a reason')));
  t.true(problems.some((p) => p.endsWith(': path must start with /')));
});

test('a disabled plugin\'s manifest is not checked', (t) => {
  const broken = fakePlugin('broken', { dependsOn: ['nowhere'] as never, routes: [route('broken', 'x', { flag: 'nope' })] });
  t.deepEqual(names(resolvePlugins([broken, fakePlugin('fine')], new Set(['fine']))), ['fine']);
});

test('booting with tokens disabled fails naming directory\'s routes and the strategies only tokens provides', async (t) => {
  const config = loadConfig({
    plugins: registry,
    files: false,
    env: { GATEHOUSE_PLUGINS__TOKENS__ENABLED: 'false' },
    overrides: { db: { filename: ':memory:' }, log: { level: 'silent' } },
  });
  const error = await t.throwsAsync(
    createGateway({
      config,
      flags: createStaticFlags([]),
      secrets: createMemorySecretStore(),
      logger: pino({ level: 'silent' }),
    }),
    { instanceOf: PluginLoadError },
  );
  const problems = (error as PluginLoadError).problems;
  const directoryRoutes = routesOf(registry.find((p) => p.name === 'directory')!, config.plugins.directory);
  const needsTokens = directoryRoutes.filter((r) => r.auth.strategy === 'token' || r.auth.strategy === 'admin');
  t.true(needsTokens.length > 0);
  for (const r of needsTokens) {
    t.true(
      problems.includes(
        `route ${r.name} (${r.method} ${r.path}) of plugin directory uses auth strategy "${r.auth.strategy}", provided by plugin tokens, which is disabled`,
      ),
      r.name,
    );
  }
  t.regex(error!.message, /directory\.current-user \(GET \/api\/v4\/user\) of plugin directory uses auth strategy "token", provided by plugin tokens, which is disabled/);
  t.regex(error!.message, /of plugin directory uses auth strategy "admin", provided by plugin tokens, which is disabled/);
});
