import test from 'ava';
import { loadConfig } from '../../core/config/loader.js';
import { createMemorySecretStore } from '../../core/config/secrets.js';
import { createStaticFlags } from '../../core/flags/resolver.js';
import { createGateway } from '../../core/gateway.js';
import { coreRoutesOf, PluginLoadError, resolveEnabledPlugins, resolvePlugins, routesOf } from '../../core/plugins/loader.js';
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

test('a prefix route collides with every other plugin\'s route matching one of its requests, parameters included, each pair once', (t) => {
  const users = fakePlugin('users', {
    routes: [
      route('users', 'list', { path: '/api/v4/users' }),
      route('users', 'show', { path: '/api/v4/users/:id' }),
      route('users', 'update', { method: 'PUT', path: '/api/v4/users/:id' }),
      route('users', 'keys', { path: '/api/v4/users/:id/keys' }),
      route('users', 'self', { path: '/api/v4/users/self' }),
      // Under its own `/users/:id`, which the plugin may serve as it likes; not under `/users/reports`.
      route('users', 'avatar', { path: '/api/v4/users/:id/avatar{/*rest}' }),
    ],
  });
  const gate = fakePlugin('gate', {
    routes: [
      route('gate', 'reports.get', { path: '/api/v4/users/reports{/*rest}' }),
      route('gate', 'reports.post', { method: 'POST', path: '/api/v4/users/reports{/*rest}' }),
    ],
  });
  const archive = fakePlugin('archive', { routes: [route('archive', 'all', { path: '/api/v4/users/reports/2026{/*rest}' })] });
  t.deepEqual(problemsOf(() => resolvePlugins([users, gate, archive], new Set(['users', 'gate', 'archive']))), [
    'route users.avatar (GET /api/v4/users/:id/avatar and below) collides with gate.reports.get (GET /api/v4/users/reports and below)',
    'route gate.reports.get (GET /api/v4/users/reports and below) collides with users.show (GET /api/v4/users/:id)',
    'route gate.reports.get (GET /api/v4/users/reports and below) collides with users.keys (GET /api/v4/users/:id/keys)',
    'route gate.reports.get (GET /api/v4/users/reports and below) collides with archive.all (GET /api/v4/users/reports/2026 and below)',
  ]);
});

test('optional groups and wildcards in a path are read as the router reads them', (t) => {
  const files = fakePlugin('files', {
    routes: [
      route('files', 'root', { path: '/files' }),
      route('files', 'show', { path: '/files/:name{.:format}' }),
      route('files', 'raw', { path: '/files/:name/raw/*path' }),
      route('files', 'system', { path: '/filesystem{/*rest}' }),
    ],
  });
  const gate = fakePlugin('gate', { routes: [route('gate', 'x', { path: '/files/x{/*rest}' })] });
  t.deepEqual(problemsOf(() => resolvePlugins([files, gate], new Set(['files', 'gate']))), [
    'route gate.x (GET /files/x and below) collides with files.show (GET /files/:name{.:format})',
    'route gate.x (GET /files/x and below) collides with files.raw (GET /files/:name/raw/*path)',
  ]);
});

test('plugin routes are checked against core\'s own: a prefix over them collides, the same path is a duplicate', (t) => {
  const gate = fakePlugin('gate', {
    routes: [
      route('gate', 'dash.get', { path: '/-{/*rest}' }),
      route('gate', 'dash.post', { method: 'POST', path: '/-{/*rest}' }),
      route('gate', 'health', { path: '/-/health' }),
    ],
  });
  const withOpenapi = problemsOf(() => resolvePlugins([gate], new Set(['gate']), [], {}, coreRoutesOf({ openapi: { enabled: true } })));
  t.deepEqual(withOpenapi, [
    'duplicate route GET /-/health: core.health and gate.health',
    'route gate.dash.get (GET /- and below) collides with core.health (GET /-/health)',
    'route gate.dash.get (GET /- and below) collides with core.readiness (GET /-/readiness)',
    'route gate.dash.get (GET /- and below) collides with core.metrics (GET /-/metrics)',
    'route gate.dash.get (GET /- and below) collides with core.jwks-alias (GET /-/jwks)',
    'route gate.dash.get (GET /- and below) collides with core.openapi (GET /-/openapi.json)',
  ]);
  const withoutOpenapi = problemsOf(() => resolvePlugins([gate], new Set(['gate']), [], {}, coreRoutesOf({ openapi: { enabled: false } })));
  t.deepEqual(withoutOpenapi, withOpenapi.slice(0, -1));
});

test('routes of a plugin at one path that share a problem are named in one problem', (t) => {
  const sharing = (['GET', 'POST', 'DELETE'] as const).map((method) =>
    route('multi', method.toLowerCase(), { method, path: '/api/v4/multi', auth: { strategy: 'kerberos' }, flag: 'nobody_declared_this' }),
  );
  const multi = fakePlugin('multi', { routes: [...sharing, route('multi', 'other', { auth: { strategy: 'kerberos' } })] });
  const where = 'routes multi.get, multi.post and multi.delete (GET, POST and DELETE /api/v4/multi) of plugin multi';
  t.deepEqual(problemsOf(() => resolvePlugins([multi], new Set(['multi']))), [
    `${where} use unknown auth strategy "kerberos"`,
    `${where} use undeclared flag "nobody_declared_this"`,
    'route multi.other (GET /api/v4/multi/other) of plugin multi uses unknown auth strategy "kerberos"',
  ]);
});

test('the shipped plugins, all enabled with their default config, load with core\'s routes', (t) => {
  const config = loadConfig({ plugins: registry, files: false, env: {} });
  t.true(registry.every((plugin) => config.plugins[plugin.name].enabled));
  t.deepEqual(names(resolveEnabledPlugins(registry, config)).sort(), names(registry).sort());
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
  // Routes at one path needing the same strategy are named in one problem.
  const namedIn = (problem: string) => /^routes? (.+?) \(/.exec(problem)?.[1].split(/, | and /) ?? [];
  for (const r of needsTokens) {
    const naming = problems.filter((problem) => namedIn(problem).includes(r.name));
    t.is(naming.length, 1, r.name);
    t.regex(naming[0], new RegExp(`of plugin directory uses? auth strategy "${r.auth.strategy}", provided by plugin tokens, which is disabled$`), r.name);
  }
  t.true(
    problems.includes(
      'routes directory.users.update and directory.users.delete (PUT and DELETE /api/v4/users/:id) of plugin directory use auth strategy "admin", provided by plugin tokens, which is disabled',
    ),
  );
  t.regex(error!.message, /directory\.current-user \(GET \/api\/v4\/user\) of plugin directory uses auth strategy "token", provided by plugin tokens, which is disabled/);
  t.regex(error!.message, /of plugin directory uses auth strategy "admin", provided by plugin tokens, which is disabled/);
});
