import test from 'ava';
import { mkdtempSync, mkdirSync, writeFileSync, statSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError, listConfigKeys, loadConfig } from '../../core/config/loader.js';
import { createSecretStore } from '../../core/config/secrets.js';
import { definePlugin } from '../../core/plugins/types.js';
import { registry } from '../../core/plugins/registry.js';

const temporaryDirs: string[] = [];
test.after.always(() => {
  for (const dir of temporaryDirs) rmSync(dir, { recursive: true, force: true });
});

/** A temp working directory with the given config files (paths relative to it). */
function workdir(files: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-'));
  temporaryDirs.push(dir);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}

/** A plugin with a config slice of every leaf type, so coercion and nesting are exercised. */
const samplePlugin = definePlugin({
  name: 'sample-plugin',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'config fixture',
  config: z.object({
    retries: z.number().int().default(3).describe('How often to retry.'),
    label: z.string().default('plain').describe('A label.'),
    verbose: z.boolean().default(false).describe('Talk more.'),
  }),
});
const plugins = [samplePlugin];

function problemsOf(error: unknown) {
  if (!(error instanceof ConfigError)) throw error;
  return error.problems;
}

test('each layer overrides the one below: defaults < default.json < $NODE_ENV.json < $GATEHOUSE_CONFIG < env < overrides', (t) => {
  const cwd = workdir({
    'config/default.json': { server: { port: 4001, host: '10.0.0.1' }, log: { level: 'warn' }, dataDir: '/srv/a' },
    'config/staging.json': { server: { port: 4002 }, log: { level: 'error' } },
    'etc/extra.json': { server: { port: 4003 }, unleash: { appName: 'from-file' } },
  });
  const env = { NODE_ENV: 'staging', GATEHOUSE_CONFIG: 'etc/extra.json', GATEHOUSE_SERVER__PORT: '4004', GATEHOUSE_UNLEASH__APP_NAME: 'from-env' };

  const config = loadConfig({ plugins, cwd, env });
  t.is(config.server.port, 4004);
  t.is(config.server.host, '10.0.0.1', 'default.json survives where nothing above sets the key');
  t.is(config.log.level, 'error', '$NODE_ENV.json beats default.json');
  t.is(config.unleash.appName, 'from-env', 'env beats $GATEHOUSE_CONFIG');
  t.is(config.dataDir, '/srv/a');
  t.is(config.unleash.environment, 'default', 'schema default where no layer says anything');

  const overridden = loadConfig({ plugins, cwd, env, overrides: { server: { port: 4005 } } });
  t.is(overridden.server.port, 4005, 'overrides beat env');

  const withoutEnvFile = loadConfig({ plugins, cwd, env: { NODE_ENV: 'staging' } });
  t.is(withoutEnvFile.server.port, 4002, '$NODE_ENV.json beats default.json');
  t.is(loadConfig({ plugins, cwd, env: {} }).server.port, 4001);
});

test('files: false ignores every config file', (t) => {
  const cwd = workdir({ 'config/default.json': { server: { port: 4001 } }, 'x.json': { server: { port: 4002 } } });
  const config = loadConfig({ plugins, cwd, env: { GATEHOUSE_CONFIG: 'x.json' }, files: false });
  t.is(config.server.port, 3000);
});

test('environment values are coerced to the key\'s type', (t) => {
  const config = loadConfig({
    plugins,
    files: false,
    env: {
      GATEHOUSE_SERVER__PORT: '8080',
      GATEHOUSE_SERVER__TRUST_PROXY: 'true',
      GATEHOUSE_LOG__REQUESTS: '0',
      GATEHOUSE_PLUGINS__SAMPLE_PLUGIN__ENABLED: 'false',
      GATEHOUSE_PLUGINS__SAMPLE_PLUGIN__RETRIES: '7',
      GATEHOUSE_PLUGINS__SAMPLE_PLUGIN__LABEL: '123',
      GATEHOUSE_PLUGINS__SAMPLE_PLUGIN__VERBOSE: '1',
      GATEHOUSE_DATA_DIR: '/var/lib/gatehouse',
      GATEHOUSE_EXTERNAL_URL: 'https://git.example.com/',
      GATEHOUSE_DB__CLIENT: 'pg',
      GATEHOUSE_DB__URL: 'postgres://gatehouse@db/gatehouse',
      GATEHOUSE_REDIS__URL: 'redis://cache:6379',
      GATEHOUSE_UNLEASH__URL: 'https://unleash.example.com/api',
      GATEHOUSE_UNLEASH__TOKEN: 'default:production.abc',
      GATEHOUSE_ROOT_TOKEN: 'glpat-0123456789abcdefghij',
    },
  });
  t.is(config.server.port, 8080);
  t.true(config.server.trustProxy);
  t.false(config.log.requests);
  t.deepEqual(config.plugins['sample-plugin'], { enabled: false, retries: 7, label: '123', verbose: true });
  t.is(config.dataDir, '/var/lib/gatehouse');
  t.is(config.externalUrl, 'https://git.example.com', 'trailing slash dropped so links join cleanly');
  t.is(config.db.client, 'pg');
  t.is(config.db.url, 'postgres://gatehouse@db/gatehouse');
  t.is(config.redis.url, 'redis://cache:6379');
  t.is(config.unleash.url, 'https://unleash.example.com/api');
  t.is(config.unleash.token, 'default:production.abc');
  t.is(config.rootToken, 'glpat-0123456789abcdefghij');
});

test('GATEHOUSE_PLUGINS__TOKENS__ENABLED=false switches the real tokens plugin off', (t) => {
  const config = loadConfig({ plugins: registry, files: false, env: { GATEHOUSE_PLUGINS__TOKENS__ENABLED: 'false' } });
  t.false(config.plugins.tokens.enabled);
  t.true(config.plugins.directory.enabled, 'every shipped plugin is enabled by default');
});

test('every environment name of the startup contract maps to a config key', (t) => {
  const byEnv = new Map(listConfigKeys(registry).map((key) => [key.env, key.path.join('.')]));
  const contract: Record<string, string> = {
    GATEHOUSE_SERVER__HOST: 'server.host',
    GATEHOUSE_SERVER__PORT: 'server.port',
    GATEHOUSE_DATA_DIR: 'dataDir',
    GATEHOUSE_EXTERNAL_URL: 'externalUrl',
    GATEHOUSE_ROOT_TOKEN: 'rootToken',
    GATEHOUSE_DB__CLIENT: 'db.client',
    GATEHOUSE_DB__URL: 'db.url',
    GATEHOUSE_REDIS__URL: 'redis.url',
    GATEHOUSE_UNLEASH__URL: 'unleash.url',
    GATEHOUSE_UNLEASH__TOKEN: 'unleash.token',
  };
  for (const plugin of registry) contract[`GATEHOUSE_PLUGINS__${plugin.name.replace(/-/g, '_').toUpperCase()}__ENABLED`] = `plugins.${plugin.name}.enabled`;
  for (const [env, path] of Object.entries(contract)) t.is(byEnv.get(env), path, env);
});

test('contract defaults: 127.0.0.1:3000, ./data, sqlite3, every plugin enabled', (t) => {
  const config = loadConfig({ plugins: registry, files: false, env: {} });
  t.is(config.server.host, '127.0.0.1');
  t.is(config.server.port, 3000);
  t.is(config.dataDir, './data');
  t.is(config.db.client, 'sqlite3');
  t.is(config.externalUrl, 'http://127.0.0.1:3000');
  for (const plugin of registry) t.true(config.plugins[plugin.name].enabled, plugin.name);
});

test('externalUrl defaults to http://<host>:<port> of the configured server', (t) => {
  const config = loadConfig({ plugins, files: false, env: { GATEHOUSE_SERVER__HOST: '0.0.0.0', GATEHOUSE_SERVER__PORT: '8081' } });
  t.is(config.externalUrl, 'http://0.0.0.0:8081');
});

test('every problem is reported at once, each with its key path', (t) => {
  const cwd = workdir({
    'config/default.json': {
      server: { nope: 1 },
      plugins: { 'no-such-plugin': { enabled: true }, 'sample-plugin': { retries: 'many', colour: 'red' } },
      log: { level: 'loud' },
      mystery: true,
    },
  });
  const error = t.throws(() =>
    loadConfig({ plugins, cwd, env: { GATEHOUSE_SERVER__PORT: 'abc', GATEHOUSE_NOPE: '1', GATEHOUSE_LOG__REQUESTS: 'maybe' } }),
  );
  const problems = problemsOf(error);
  const byPath = new Map(problems.map((p) => [p.path, p]));
  t.deepEqual(
    [...byPath.keys()].sort(),
    [
      'GATEHOUSE_NOPE',
      'log.level',
      'log.requests',
      'mystery',
      'plugins.no-such-plugin',
      'plugins.sample-plugin.colour',
      'plugins.sample-plugin.retries',
      'server.nope',
      'server.port',
    ],
  );
  t.is(byPath.get('plugins.no-such-plugin')!.message, 'unknown plugin');
  t.is(byPath.get('server.nope')!.message, 'unknown key');
  t.is(byPath.get('mystery')!.message, 'unknown key');
  t.regex(byPath.get('GATEHOUSE_NOPE')!.message, /unknown environment variable/);
  t.is(byPath.get('server.port')!.source, 'from GATEHOUSE_SERVER__PORT', 'a bad env value says which variable it came from');
  for (const path of byPath.keys()) t.true(error!.message.includes(path), `the message names ${path}`);
});

test('GATEHOUSE_CONFIG and GATEHOUSE_TEST_* are not config keys but are not errors either', (t) => {
  const cwd = workdir({ 'extra.json': {} });
  t.notThrows(() =>
    loadConfig({ plugins, cwd, env: { GATEHOUSE_CONFIG: 'extra.json', GATEHOUSE_TEST_DATABASE_URL: 'postgres://x', GATEHOUSE_TEST_LOG: 'debug' } }),
  );
});

test('an unreadable or non-object config file is a problem with its file name', (t) => {
  const cwd = workdir({ 'config/default.json': '{ not json', 'list.json': [1, 2] });
  const problems = problemsOf(t.throws(() => loadConfig({ plugins, cwd, env: { GATEHOUSE_CONFIG: 'list.json' } })));
  t.is(problems.length, 2);
  t.regex(problems[0].source!, /config\/default\.json$/);
  t.regex(problems[0].message, /cannot be read/);
  t.regex(problems[1].source!, /list\.json$/);
  t.is(problems[1].message, 'must be a JSON object');
});

test('db.client pg without db.url is an error, listed with the others', (t) => {
  const only = problemsOf(t.throws(() => loadConfig({ plugins, files: false, env: { GATEHOUSE_DB__CLIENT: 'pg' } })));
  t.deepEqual(only, [{ path: 'db.url', message: 'required when db.client is pg' }]);
  const several = problemsOf(
    t.throws(() => loadConfig({ plugins, files: false, env: { GATEHOUSE_DB__CLIENT: 'pg', GATEHOUSE_SERVER__PORT: 'abc' } })),
  );
  t.deepEqual(several.map((p) => p.path).sort(), ['db.url', 'server.port']);
});

test('the loaded config is deeply frozen', (t) => {
  const config = loadConfig({ plugins, files: false, env: {} });
  t.true(Object.isFrozen(config));
  t.true(Object.isFrozen(config.server));
  t.true(Object.isFrozen(config.plugins['sample-plugin']));
  t.throws(() => {
    (config.server as { port: number }).port = 1;
  }, { instanceOf: TypeError });
});

test('listConfigKeys describes every leaf with env name, type, default and description', (t) => {
  const keys = listConfigKeys(plugins);
  const retries = keys.find((k) => k.path.join('.') === 'plugins.sample-plugin.retries')!;
  t.is(retries.env, 'GATEHOUSE_PLUGINS__SAMPLE_PLUGIN__RETRIES');
  t.is(retries.type, 'integer');
  t.is(retries.default, 3);
  t.is(retries.description, 'How often to retry.');
  const client = keys.find((k) => k.env === 'GATEHOUSE_DB__CLIENT')!;
  t.deepEqual(client.enum, ['sqlite3', 'pg']);
  for (const key of listConfigKeys(registry)) t.truthy(key.description?.trim(), `${key.path.join('.')} is described`);
});

test('a secret file is generated with mode 0600 when absent and reused afterwards', (t) => {
  const dataDir = join(workdir(), 'data');
  const store = createSecretStore(dataDir);
  let generated = 0;
  const generate = () => `secret-${++generated}`;

  const first = store.ensure('.gatehouse_test_secret', generate);
  t.is(first, 'secret-1');
  const path = store.pathOf('.gatehouse_test_secret');
  t.is(path, join(dataDir, '.gatehouse_test_secret'));
  t.is(statSync(path).mode & 0o777, 0o600);
  t.is(readFileSync(path, 'utf8'), 'secret-1\n');

  t.is(store.ensure('.gatehouse_test_secret', generate), 'secret-1');
  t.is(createSecretStore(dataDir).ensure('.gatehouse_test_secret', generate), 'secret-1', 'a new process reads the same file');
  t.is(generated, 1);
});

test('a secret file that already exists is used as is (trailing newline removed)', (t) => {
  const dir = workdir({ 'provided_secret': 'operator-value\n' });
  const store = createSecretStore(join(dir, 'data'));
  t.is(store.ensure(join(dir, 'provided_secret'), () => t.fail('must not generate') as never), 'operator-value');
});
