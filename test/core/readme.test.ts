import test from 'ava';
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
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
