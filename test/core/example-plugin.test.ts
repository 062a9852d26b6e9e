import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MIGRATIONS_TABLE } from '../../core/db/index.js';
import { registry } from '../../core/plugins/registry.js';
import { backendName, ROOT_TOKEN, startTestApp } from '../helpers/app.js';

// The example plugin of examples/broadcast-messages, enabled as operators enable a plugin from outside the
// repository: by naming its module in config. Its own tests (run by .ci/run against the built package)
// cover its API; these check that the gateway loads it, serves it, lists it and documents it.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLE = join(ROOT, 'examples/broadcast-messages');
const MODULE = './examples/broadcast-messages/index.js';
const MAIN = join(ROOT, 'core/main.ts');
const TSX = import.meta.resolve('tsx');
const MESSAGE_KEYS = ['id', 'message', 'starts_at', 'ends_at', 'font', 'target_access_levels', 'target_path', 'broadcast_type', 'theme', 'dismissable', 'active'];

/**
 * The example imports `gatehouse` as a package installed beside it. `npm install` in its folder links
 * node_modules/gatehouse to this repository (`file:../..`); make the same link when it has not run yet.
 */
function linkGatehouseIntoExample() {
  const link = join(EXAMPLE, 'node_modules/gatehouse');
  if (existsSync(link)) return;
  mkdirSync(join(EXAMPLE, 'node_modules'), { recursive: true });
  symlinkSync('../../..', link, 'dir');
}

test.before(linkGatehouseIntoExample);

const dirs: string[] = [];
test.after.always(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test(`the example plugin loads by module, migrates its table, serves its API and is in the OpenAPI document (${backendName})`, async (t) => {
  const app = await startTestApp({ cwd: ROOT, config: { plugins: { 'broadcast-messages': { module: MODULE, maxMessages: 1 } } } });
  t.teardown(() => app.close());
  t.deepEqual(
    app.gateway.plugins.map((plugin) => plugin.name),
    [...registry.map((plugin) => plugin.name), 'broadcast-messages'],
  );
  t.deepEqual(await app.db(MIGRATIONS_TABLE).where('name', 'like', 'broadcast-messages/%').pluck('name'), [
    'broadcast-messages/20261204120000_create_broadcast_messages',
  ]);

  const anonymous = await app.request('/api/v4/broadcast_messages', { method: 'POST', body: { message: 'Deploy in progress' } });
  t.is(anonymous.status, 401);
  t.deepEqual(anonymous.body, { message: '401 Unauthorized' });

  const created = await app.request('/api/v4/broadcast_messages', { method: 'POST', token: ROOT_TOKEN, body: { message: 'Deploy in progress' } });
  t.is(created.status, 201);
  const expected = {
    id: created.body.id,
    message: 'Deploy in progress',
    starts_at: '2026-11-22T10:00:00.000Z',
    ends_at: '2026-11-22T11:00:00.000Z',
    font: '#FFFFFF',
    target_access_levels: [],
    target_path: null,
    broadcast_type: 'banner',
    theme: 'indigo',
    dismissable: null,
    active: true,
  };
  t.deepEqual(created.body, expected);
  t.deepEqual(Object.keys(created.body), MESSAGE_KEYS);

  const listed = await app.request('/api/v4/broadcast_messages');
  t.is(listed.status, 200);
  t.deepEqual(listed.body, [expected]);
  t.is(listed.headers.get('x-total'), '1');

  // The plugin's config slice is validated and handed to it: maxMessages 1 refuses a second message.
  const refused = await app.request('/api/v4/broadcast_messages', { method: 'POST', token: ROOT_TOKEN, body: { message: 'one too many' } });
  t.is(refused.status, 400);
  t.deepEqual(refused.body, { message: '400 Bad request - broadcast messages are limited to 1; delete one to create another' });
  t.deepEqual(await app.db('broadcast_messages_messages').pluck('message'), ['Deploy in progress']);

  const { paths, tags } = app.gateway.openapi as { paths: Record<string, Record<string, any>>; tags: Array<{ name: string; description: string }> };
  t.deepEqual(tags.find((tag) => tag.name === 'broadcast-messages'), {
    name: 'broadcast-messages',
    description: "GitLab's Broadcast Messages API: public reads, admin writes.",
  });
  const operations = Object.entries(paths)
    .filter(([path]) => path.startsWith('/api/v4/broadcast_messages'))
    .flatMap(([path, methods]) => Object.entries(methods).map(([method, operation]) => [method.toUpperCase(), path, operation.operationId, operation['x-gatehouse-auth'].strategy]));
  t.deepEqual(operations, [
    ['GET', '/api/v4/broadcast_messages', 'broadcast-messages.list', 'none'],
    ['POST', '/api/v4/broadcast_messages', 'broadcast-messages.create', 'admin'],
    ['GET', '/api/v4/broadcast_messages/{id}', 'broadcast-messages.show', 'none'],
    ['PUT', '/api/v4/broadcast_messages/{id}', 'broadcast-messages.update', 'admin'],
    ['DELETE', '/api/v4/broadcast_messages/{id}', 'broadcast-messages.delete', 'admin'],
  ]);
  t.deepEqual(paths['/api/v4/broadcast_messages'].get.security, []);
});

/** `gatehouse plugins list` run as operators run it, from the repository, naming the example in the environment. */
function pluginsList(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-example-'));
  dirs.push(dataDir);
  const env = { PATH: process.env.PATH ?? '', GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_PLUGINS__BROADCAST_MESSAGES__MODULE: MODULE };
  const child = spawn(process.execPath, ['--conditions=development', '--import', TSX, MAIN, 'plugins', 'list'], { cwd: ROOT, env });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((done) => child.once('exit', (code) => done({ code, stdout, stderr })));
}

test('gatehouse plugins list shows the example plugin with its module, dependencies, flag and routes', async (t) => {
  const { code, stdout, stderr } = await pluginsList();
  t.is(code, 0, stderr);
  const lines = stdout.split('\n').filter((line) => line && !line.startsWith('{'));
  const start = lines.indexOf('broadcast-messages 1.0.0 — enabled');
  t.true(start > 0, stdout);
  t.deepEqual(lines.slice(start), [
    'broadcast-messages 1.0.0 — enabled',
    "  GitLab's Broadcast Messages API: public reads, admin writes.",
    `  module: ${join(EXAMPLE, 'index.js')}`,
    '  depends on: directory, tokens',
    '  flag broadcast_messages_api (release, default on): Serve the Broadcast Messages API.',
    '  GET    /api/v4/broadcast_messages  broadcast-messages.list  auth=none flag=broadcast_messages_api',
    '  GET    /api/v4/broadcast_messages/:id  broadcast-messages.show  auth=none flag=broadcast_messages_api',
    '  POST   /api/v4/broadcast_messages  broadcast-messages.create  auth=admin flag=broadcast_messages_api',
    '  PUT    /api/v4/broadcast_messages/:id  broadcast-messages.update  auth=admin flag=broadcast_messages_api',
    '  DELETE /api/v4/broadcast_messages/:id  broadcast-messages.delete  auth=admin flag=broadcast_messages_api',
  ]);
});
