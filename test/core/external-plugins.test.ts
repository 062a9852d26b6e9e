import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../core/config/loader.js';
import { MIGRATIONS_TABLE } from '../../core/db/index.js';
import { loadConfigWithPlugins } from '../../core/plugins/external.js';
import { PluginLoadError } from '../../core/plugins/loader.js';
import { registry } from '../../core/plugins/registry.js';
import { backendName, startTestApp, type TestApp } from '../helpers/app.js';
import { createUserWithToken } from '../helpers/fixtures.js';
import { UNAUTHORIZED } from '../helpers/gitlab-errors.js';

// Plugins from outside the repository, named by `plugins.<name>.module`: loaded before the config is
// validated, then held to every rule the shipped plugins are.

const FIXTURES = fileURLToPath(new URL('../fixtures/plugins/', import.meta.url));
const fixture = (file: string) => join(FIXTURES, file);
const TEAM_NOTES = fixture('team-notes.mjs');
const NOT_FOUND = { message: '404 Not Found' };
/** GitLab's answer for a path no route serves. */
const NO_ROUTE = { error: '404 Not Found' };
const TOO_MANY_REQUESTS = { message: { error: 'This endpoint has been requested too many times. Try again later.' } };

const dirs: string[] = [];
test.after.always(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-external-'));
  dirs.push(dir);
  return dir;
}

function writeFiles(root: string, files: Record<string, string>) {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
}

/** A manifest module with no imports, so it loads from any directory. */
const helloModule = (name: string) => `export default {
  name: '${name}', version: '2.1.0', core: '^1.0.0', description: 'Says hello.',
  routes: [{ name: '${name}.hello', method: 'GET', path: '/api/v4/${name}', auth: { strategy: 'none', reason: 'a greeting' }, handler(ctx) { ctx.body = { hello: '${name}' }; } }],
};
`;

async function withApp(options: Parameters<typeof startTestApp>[0], run: (app: TestApp) => Promise<void>) {
  const app = await startTestApp(options);
  try {
    await run(app);
  } finally {
    await app.close();
  }
}

const notes = (app: TestApp) => app.db('team_notes').select('id', 'author_id', 'body', 'created_at').orderBy('id');

test(`an external plugin named by module boots, migrates its table and serves its route with auth, flag, limit and validation (${backendName})`, async (t) => {
  await withApp({ config: { plugins: { 'team-notes': { module: TEAM_NOTES, maxLength: 13, label: 'memo' } } } }, async (app) => {
    t.deepEqual(
      app.gateway.plugins.map((plugin) => plugin.name),
      [...registry.map((plugin) => plugin.name), 'team-notes'],
    );
    const applied = await app.db(MIGRATIONS_TABLE).where('name', 'like', 'team-notes/%').pluck('name');
    t.deepEqual(applied, ['team-notes/20261204000000_create_team_notes']);
    t.deepEqual(await notes(app), []);

    const { user, plaintext } = await createUserWithToken(app, ['api']);
    const post = (body: unknown) => app.request('/api/v4/team_notes', { method: 'POST', token: plaintext, body });

    const anonymous = await app.request('/api/v4/team_notes', { method: 'POST', body: { body: 'hi' } });
    t.is(anonymous.status, 401);
    t.deepEqual(anonymous.body, UNAUTHORIZED);

    app.flags.set('team_notes_api', false);
    const flagOff = await post({ body: 'hidden' });
    t.is(flagOff.status, 404);
    t.deepEqual(flagOff.body, NOT_FOUND);
    app.flags.set('team_notes_api', true);

    const invalid = await post({});
    t.is(invalid.status, 400);
    t.deepEqual(invalid.body, { error: 'body is missing' });

    const created = await post({ body: 'Deploy freeze starts Friday' });
    t.is(created.status, 201);
    t.deepEqual(created.body, {
      id: created.body.id,
      kind: 'memo',
      body: 'Deploy freeze',
      author: user.username,
      created_at: '2026-11-22T10:00:00.000Z',
    });
    t.deepEqual(await notes(app), [{ id: created.body.id, author_id: user.id, body: 'Deploy freeze', created_at: '2026-11-22T10:00:00.000Z' }]);

    const listed = await app.request('/api/v4/team_notes', { token: plaintext });
    t.is(listed.status, 200);
    t.deepEqual(listed.body, [{ id: created.body.id, kind: 'memo', body: 'Deploy freeze' }]);

    // Three requests per minute, counted past the flag gate and before validation: the invalid one counts.
    t.is((await post({ body: 'third' })).status, 201);
    const limited = await post({ body: 'one too many' });
    t.is(limited.status, 429);
    t.deepEqual(limited.body, TOO_MANY_REQUESTS);
    t.truthy(limited.headers.get('retry-after'));
    t.deepEqual(await app.db('team_notes').pluck('body'), ['Deploy freeze', 'third']);
  });
});

test(`an external plugin is configured and even named from the environment (${backendName})`, async (t) => {
  const env = {
    GATEHOUSE_PLUGINS__TEAM_NOTES__MODULE: TEAM_NOTES,
    GATEHOUSE_PLUGINS__TEAM_NOTES__MAX_LENGTH: '4',
    GATEHOUSE_PLUGINS__TEAM_NOTES__LABEL: 'scribble',
  };
  await withApp({ env }, async (app) => {
    t.like(app.gateway.config.plugins['team-notes'], { enabled: true, module: TEAM_NOTES, maxLength: 4, label: 'scribble' });
    const { plaintext } = await createUserWithToken(app, ['api']);
    const created = await app.request('/api/v4/team_notes', { method: 'POST', token: plaintext, body: { body: 'abcdefgh' } });
    t.is(created.status, 201);
    t.like(created.body, { kind: 'scribble', body: 'abcd' });
    t.deepEqual(await app.db('team_notes').pluck('body'), ['abcd']);
  });
});

test(`an external plugin with enabled: false is loaded but neither migrated nor served (${backendName})`, async (t) => {
  await withApp({ config: { plugins: { 'team-notes': { module: TEAM_NOTES, enabled: false } } } }, async (app) => {
    t.false(app.gateway.plugins.some((plugin) => plugin.name === 'team-notes'));
    t.false(await app.db.schema.hasTable('team_notes'));
    t.deepEqual(await app.db(MIGRATIONS_TABLE).where('name', 'like', 'team-notes/%').pluck('name'), []);
    const { plaintext } = await createUserWithToken(app, ['api']);
    const response = await app.request('/api/v4/team_notes', { token: plaintext });
    t.is(response.status, 404);
    t.deepEqual(response.body, NO_ROUTE);
  });
});

test('a disabled plugin whose module is missing or broken does not stop boot', async (t) => {
  await withApp(
    {
      config: {
        plugins: {
          missing: { module: fixture('missing.mjs'), enabled: false },
          'rule-breaker': { module: fixture('rule-breaker.mjs'), enabled: false },
        },
      },
    },
    async (app) => {
      t.deepEqual(
        app.gateway.plugins.map((plugin) => plugin.name),
        registry.map((plugin) => plugin.name),
      );
    },
  );
});

test('an external plugin\'s config is validated by its own schema, strictly, with key paths', async (t) => {
  const error = await t.throwsAsync(
    loadConfigWithPlugins({
      shipped: registry,
      files: false,
      env: { GATEHOUSE_PLUGINS__TEAM_NOTES__LABEL: '' },
      overrides: { plugins: { 'team-notes': { module: TEAM_NOTES, maxLength: 'long', colour: 'red' } } },
    }),
    { instanceOf: ConfigError },
  );
  const problems = (error as ConfigError).problems.map((problem) => `${problem.path}: ${problem.message}${problem.source ? ` (${problem.source})` : ''}`);
  t.deepEqual(problems.sort(), [
    'plugins.team-notes.colour: unknown key',
    'plugins.team-notes.label: Too small: expected string to have >=1 characters (from GATEHOUSE_PLUGINS__TEAM_NOTES__LABEL)',
    'plugins.team-notes.maxLength: Invalid input: expected number, received string',
  ]);
});

test('the module key is only accepted where a module was named, and must be a string', async (t) => {
  const error = await t.throwsAsync(
    loadConfigWithPlugins({
      shipped: registry,
      files: false,
      env: { GATEHOUSE_PLUGINS__NOWHERE__MAX_LENGTH: '3' },
      overrides: { plugins: { 'team-notes': { module: 42 } } },
    }),
    { instanceOf: ConfigError },
  );
  t.deepEqual(
    (error as ConfigError).problems.map((problem) => `${problem.path}: ${problem.message}`),
    ['GATEHOUSE_PLUGINS__NOWHERE__MAX_LENGTH: unknown environment variable (no such config key)', 'plugins.team-notes.module: Invalid input: expected string, received number'],
  );
});

test('every problem of external plugins is listed at once in one boot error, with the loader\'s rules', async (t) => {
  const error = await t.throwsAsync(
    startTestApp({
      // The keys of a plugin whose module did not load are unknown, and not reported on top of its problem.
      env: { GATEHOUSE_PLUGINS__FAILING__MODULE: fixture('throws-on-import.mjs'), GATEHOUSE_PLUGINS__MISSING__MAX_LENGTH: '3' },
      config: {
        plugins: {
          missing: { module: fixture('missing.mjs'), anything: 'goes' },
          'no-default-export': { module: fixture('no-default-export.mjs') },
          'not-a-manifest': { module: fixture('not-a-manifest.mjs') },
          renamed: { module: fixture('renamed.mjs') },
          tokens: { module: TEAM_NOTES },
          'rule-breaker': { module: fixture('rule-breaker.mjs') },
          'needs-missing': { module: fixture('needs-missing.mjs') },
        },
      },
    }),
    { instanceOf: PluginLoadError },
  );
  const at = (file: string) => fixture(file);
  t.deepEqual((error as PluginLoadError).problems, [
    `plugin failing: module "${at('throws-on-import.mjs')}" failed to load: the plugin could not read its settings`,
    `plugin missing: module "${at('missing.mjs')}" not found (looked up from ${process.cwd()})`,
    `plugin no-default-export: module "${at('no-default-export.mjs')}" has no default export (it must export default the value of definePlugin(...))`,
    `plugin not-a-manifest: the default export of module "${at('not-a-manifest.mjs')}" is not a plugin manifest: version must be a string, core must be a string, routes must be an array of routes (name, method, path, auth, handler) or a function of the config`,
    `plugin renamed: module "${at('renamed.mjs')}" exports plugin "real-name"; a plugin's config key must be its name`,
    `plugin tokens: module "${TEAM_NOTES}" cannot be loaded under the name of a plugin shipped with gatehouse`,
    'plugin rule-breaker: needs core ^2.0.0, this core is 1.0.0',
    'plugin rule-breaker depends on unknown plugin "ghost-plugin"',
    'plugin needs-missing depends on missing, whose module could not be loaded',
    'route rule-breaker.kerberos (GET /api/v4/rule_breaker/kerberos) of plugin rule-breaker uses unknown auth strategy "kerberos"',
    'route rule-breaker.flagged (GET /api/v4/rule_breaker/flagged) of plugin rule-breaker uses undeclared flag "nobody_declared_this"',
    'duplicate route GET /api/v4/user: directory.current-user and rule-breaker.user',
  ]);
});

test('a module is found by a path relative to the working directory, a directory, or an installed package name', async (t) => {
  const cwd = tempDir();
  writeFiles(cwd, {
    'local/by-path.mjs': helloModule('by-path'),
    'local/by-dir/package.json': JSON.stringify({ name: 'by-dir', main: 'plugin.js', type: 'module' }),
    'local/by-dir/plugin.js': helloModule('by-dir'),
    'node_modules/gatehouse-plugin-by-package/package.json': JSON.stringify({ name: 'gatehouse-plugin-by-package', type: 'module', exports: './index.js' }),
    'node_modules/gatehouse-plugin-by-package/index.js': helloModule('by-package'),
    'node_modules/@acme/by-scope/package.json': JSON.stringify({ name: '@acme/by-scope', type: 'module', exports: { '.': { default: './dist/main.js' } } }),
    'node_modules/@acme/by-scope/dist/main.js': helloModule('by-scope'),
  });
  const loaded = await loadConfigWithPlugins({
    shipped: registry,
    cwd,
    files: false,
    env: {},
    overrides: {
      plugins: {
        'by-path': { module: './local/by-path.mjs' },
        'by-dir': { module: './local/by-dir' },
        'by-package': { module: 'gatehouse-plugin-by-package' },
        'by-scope': { module: '@acme/by-scope', enabled: false },
      },
    },
  });
  t.deepEqual(loaded.moduleProblems, []);
  t.deepEqual(
    loaded.registry.slice(registry.length).map((plugin) => `${plugin.name} ${plugin.version}`),
    ['by-path 2.1.0', 'by-dir 2.1.0', 'by-package 2.1.0', 'by-scope 2.1.0'],
  );
  t.deepEqual(Object.fromEntries(loaded.modules), {
    'by-path': join(cwd, 'local/by-path.mjs'),
    'by-dir': join(cwd, 'local/by-dir/plugin.js'),
    'by-package': join(cwd, 'node_modules/gatehouse-plugin-by-package/index.js'),
    'by-scope': join(cwd, 'node_modules/@acme/by-scope/dist/main.js'),
  });
  t.like(loaded.config.plugins, { 'by-path': { enabled: true }, 'by-scope': { enabled: false, module: '@acme/by-scope' } });

  const missingPackage = await loadConfigWithPlugins({
    shipped: registry,
    cwd,
    files: false,
    env: {},
    overrides: { plugins: { absent: { module: 'gatehouse-plugin-absent' } } },
  });
  t.deepEqual(missingPackage.moduleProblems, [{ plugin: 'absent', message: `plugin absent: module "gatehouse-plugin-absent" not found (looked up from ${cwd})` }]);
});

test(`an external plugin loaded from a package serves through the gateway (${backendName})`, async (t) => {
  const cwd = tempDir();
  writeFiles(cwd, {
    'node_modules/gatehouse-plugin-greeter/package.json': JSON.stringify({ name: 'gatehouse-plugin-greeter', type: 'module', main: 'index.js' }),
    'node_modules/gatehouse-plugin-greeter/index.js': helloModule('greeter'),
  });
  await withApp({ cwd, config: { plugins: { greeter: { module: 'gatehouse-plugin-greeter' } } } }, async (app) => {
    t.is(app.gateway.plugins.at(-1)?.name, 'greeter');
    const response = await app.request('/api/v4/greeter');
    t.is(response.status, 200);
    t.deepEqual(response.body, { hello: 'greeter' });
  });
});
