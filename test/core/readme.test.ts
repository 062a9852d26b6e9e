import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { listConfigKeys } from '../../core/config/loader.js';
import { registry } from '../../core/plugins/registry.js';
import { generatedFiles, ROOT } from '../../scripts/config-docs.js';

const STALE = 'is out of date: run `npm run docs:config`';

for (const file of generatedFiles()) {
  const name = relative(ROOT, file.path);
  test(`${name} matches the config schema and plugin manifests`, (t) => {
    t.is(readFileSync(file.path, 'utf8'), file.content, `${name} ${STALE}`);
  });
}

test('the README configuration table has a row for every config key and environment variable', (t) => {
  const readme = readFileSync(`${ROOT}/README.md`, 'utf8');
  for (const key of listConfigKeys(registry)) {
    t.true(readme.includes(`| \`${key.path.join('.')}\` | \`${key.env}\` |`), `${key.env} ${STALE}`);
  }
});

test('the README quick start matches what gatehouse prints and serves', (t) => {
  const readme = readFileSync(`${ROOT}/README.md`, 'utf8');
  t.true(readme.includes('npm ci && npm start'));
  t.true(readme.includes('gatehouse listening on http://127.0.0.1:3000'));
  t.true(readme.includes('curl -H "PRIVATE-TOKEN: <token>" http://127.0.0.1:3000/api/v4/user'));
  const scripts = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')).scripts as Record<string, string>;
  for (const script of ['start', 'test', 'docs:config', 'knex', 'gatehouse', 'typecheck']) t.truthy(scripts[script], `npm run ${script} exists`);
});

const readme = () => readFileSync(`${ROOT}/README.md`, 'utf8');

/** The README from one `## ` heading to the next. */
function section(heading: string): string {
  const text = readme();
  const start = text.indexOf(`\n## ${heading}\n`);
  if (start === -1) throw new Error(`no README section "${heading}"`);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end === -1 ? undefined : end);
}

test('every repository path the README names exists', (t) => {
  // A path in backticks, a link, a code block or JSON: starts with a top-level folder of this repository.
  const pattern = /(?<=[\s`("'])(?:\.\/)?((?:core|plugins|examples|config|bench|scripts|test|\.ci)\/[\w./-]*)/g;
  const named = new Set([...readme().matchAll(pattern)].map((match) => match[1].replace(/[.]$/, '')));
  t.true(named.size >= 10, `the README names ${named.size} paths`);
  // What a run makes (`bench/results/`) is ignored by git, so absent from a fresh clone.
  const made = readFileSync(`${ROOT}/.gitignore`, 'utf8').split('\n').filter((line) => line.endsWith('/') && !line.startsWith('#'));
  for (const path of named) if (!made.some((folder) => path.startsWith(folder))) t.true(existsSync(join(ROOT, path)), `README names ${path}, which does not exist`);
});

test('what "Writing a plugin" calls from gatehouse, gatehouse and gatehouse/testing export', async (t) => {
  const gatehouse: Record<string, unknown> = await import('../../core/index.js');
  const testing: Record<string, unknown> = await import('../../core/testing.js');
  const text = section('Writing a plugin');
  // Helpers and error classes, written as calls: `respondWithPage(ctx, …)`, `NotFoundError('…')`, `p.integer()`.
  // `new X(` is the plugin's own class.
  const called = new Set([...text.matchAll(/(?<!new )(?<=[`\s])((?:p\.)?[a-zA-Z]+)\(/g)].map((match) => match[1]));
  // Members of the manifest, a strategy, a route or the test gateway: what the plugin writes or is handed.
  const members = new Set(['services', 'bootstrap', 'close', 'handler', 'prepare', 'authenticate', 'request', 'createUser', 'describe', 'test', 'import', 'present', 'find', 'set']);
  const exported = [...called].filter((name) => !members.has(name));
  t.true(exported.length >= 10, exported.join(', '));
  for (const name of exported) {
    const value = name.startsWith('p.') ? (gatehouse.p as Record<string, unknown>)[name.slice(2)] : (gatehouse[name] ?? testing[name]);
    t.is(typeof value, 'function', `README calls ${name}(), which gatehouse does not export`);
  }
  for (const name of ['pageOf', 'setPaginationHeaders', 'paginationShape', 'ValidationError', 'UnauthorizedError', 'ServiceUnavailableError', 'TooManyRequestsError', 'ModelValidationError', 'TestClock', 'startGateway']) {
    t.regex(text, new RegExp(`\\b${name}\\b`), `README names ${name}`);
    t.truthy(gatehouse[name] ?? testing[name], `README names ${name}, which gatehouse does not export`);
  }
});

test('every GATEHOUSE_ variable the README names is a config key, or one the process or tests read', (t) => {
  const keys = new Set(listConfigKeys(registry).map((key) => key.env));
  // Read outside the config schema: the config file, the root token, the test services; the example plugin's.
  const others = ['GATEHOUSE_CONFIG', 'GATEHOUSE_ROOT_TOKEN', 'GATEHOUSE_TEST_DATABASE_URL', 'GATEHOUSE_TEST_REDIS_URL'];
  const external = /^GATEHOUSE_PLUGINS__BROADCAST_MESSAGES__/;
  // `GATEHOUSE_PLUGINS__<NAME>__<KEY>` is the pattern, not a variable.
  const named = new Set([...readme().matchAll(/GATEHOUSE_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_]*<)/g)].map((match) => match[0]));
  t.true(named.size >= 10, `the README names ${named.size} variables`);
  for (const name of named) {
    if (external.test(name) || others.includes(name)) continue;
    t.true(keys.has(name), `README names ${name}, which no config key reads`);
  }
});

/** Every `.ts` file under a folder of the repository. */
const sources = (folder: string): string[] =>
  readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => join(folder, file));

/** GitLab's own settings, named where a key mirrors one. */
const GITLAB_KEYS = new Set(['monitoring.ip_whitelist']);

test('every config key the README and core\'s comments name in backticks exists', (t) => {
  const keys = new Set(listConfigKeys(registry).map((key) => key.path.join('.')));
  const sections = new Set([...keys].map((key) => key.split('.')[0]));
  const texts = [readme(), ...sources('core').map((file) => readFileSync(join(ROOT, file), 'utf8'))];
  let checked = 0;
  for (const text of texts) {
    for (const [, key] of text.matchAll(/`([a-z][\w-]*(?:\.[\w-]+)+)`/g)) {
      // Only dotted names under one of gatehouse's config sections; file names (`config.json`) are not keys.
      if (!sections.has(key.split('.')[0]) || /\.(json|js|ts|yml)$/.test(key) || GITLAB_KEYS.has(key)) continue;
      checked++;
      t.true(keys.has(key), `\`${key}\` is named, but is no config key`);
    }
  }
  t.true(checked >= 20, `${checked} keys checked`);
});

test('every repository path core\'s comments name exists', (t) => {
  let checked = 0;
  for (const file of sources('core')) {
    for (const [, path] of readFileSync(join(ROOT, file), 'utf8').matchAll(/(?<=[\s`(])((?:core|plugins|bench|config|scripts|test|examples)\/[\w./-]*\w)/g)) {
      checked++;
      t.true(existsSync(join(ROOT, path)), `${file} names ${path}, which does not exist`);
    }
  }
  t.true(checked >= 2, `${checked} paths checked`);
});
