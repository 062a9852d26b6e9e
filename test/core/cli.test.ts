import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../core/config/loader.js';
import { routesOf } from '../../core/plugins/loader.js';
import { registry } from '../../core/plugins/registry.js';

// The CLI as operators run it: a separate node process with tsx, in its own working directory, with an
// explicit environment (nothing inherited but PATH), against a data directory of its own. Serial: each
// test boots node processes, and running them all at once starves small machines.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = fileURLToPath(new URL('../../core/main.ts', import.meta.url));
const KNEX_CLI = fileURLToPath(new URL('../../node_modules/knex/bin/cli.js', import.meta.url));
const CONFIG_DIR = fileURLToPath(new URL('../../config', import.meta.url));
const TSX = import.meta.resolve('tsx');
const TOKEN = /glpat-[A-Za-z0-9_-]{20,}/g;
const DEFAULT_PLUGIN_CONFIG = loadConfig({ plugins: registry, files: false, env: {} }).plugins;
/** Generous: the suite runs several node processes at once on small CI machines. Not a performance bound. */
const BOOT_DEADLINE_MS = 45_000;

const dirs: string[] = [];
const children = new Set<ChildProcess>();
test.after.always(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A working directory holding a copy of the shipped config/, and a data directory of its own. */
function workspace() {
  const cwd = mkdtempSync(join(tmpdir(), 'gatehouse-cli-'));
  dirs.push(cwd);
  cpSync(CONFIG_DIR, join(cwd, 'config'), { recursive: true });
  return { cwd, env: { PATH: process.env.PATH ?? '', GATEHOUSE_DATA_DIR: join(cwd, 'state') } };
}

type Workspace = ReturnType<typeof workspace>;

function spawnCli(ws: Workspace, args: string[], env: Record<string, string> = {}, entry: { script: string; cwd?: string } = { script: MAIN }) {
  const child = spawn(process.execPath, ['--conditions=development', '--import', TSX, entry.script, ...args], { cwd: entry.cwd ?? ws.cwd, env: { ...ws.env, ...env } });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      done({ code, signal });
    }),
  );
  return {
    child,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    /** Operator lines on stdout (log lines are JSON and are left out). */
    lines: () => stdout.split('\n').filter((line) => line && !line.startsWith('{')),
  };
}

async function runCli(ws: Workspace, args: string[], env: Record<string, string> = {}, entry?: { script: string; cwd?: string }) {
  const run = spawnCli(ws, args, env, entry);
  const { code } = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr(), lines: run.lines() };
}

/** A port free right now: bound to 0, then released (the server's externalUrl must carry the real port). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

/** Starts `gatehouse start` and waits for its listening line (bounded, so a stuck boot fails the test). */
async function startServer(ws: Workspace, env: Record<string, string> = {}) {
  const port = await freePort();
  const run = spawnCli(ws, ['start'], { GATEHOUSE_SERVER__PORT: String(port), ...env });
  const url = `http://127.0.0.1:${port}`;
  const listening = `gatehouse listening on ${url}`;
  const deadline = Date.now() + BOOT_DEADLINE_MS;
  while (!run.lines().includes(listening) && Date.now() < deadline) {
    const exited = await Promise.race([run.exited, new Promise((done) => setTimeout(() => done(undefined), 50))]);
    if (exited) throw new Error(`gatehouse start exited early: ${JSON.stringify(exited)}\n${run.stderr()}`);
  }
  if (!run.lines().includes(listening)) throw new Error(`no listening line; stdout:\n${run.stdout()}\nstderr:\n${run.stderr()}`);
  return {
    ...run,
    url,
    get: (path: string, token: string) =>
      fetch(`${url}${path}`, { headers: { 'PRIVATE-TOKEN': token }, signal: AbortSignal.timeout(10_000) }),
    async stop() {
      run.child.kill('SIGTERM');
      return run.exited;
    },
  };
}

test.serial('config check: OK with the shipped config', async (t) => {
  const result = await runCli(workspace(), ['config', 'check']);
  t.is(result.code, 0, result.stderr);
  t.deepEqual(result.lines, ['configuration OK']);
});

test.serial('config check: every bad variable is reported with its key path, exit non-zero', async (t) => {
  const result = await runCli(workspace(), ['config', 'check'], { GATEHOUSE_SERVER__PORT: 'abc', GATEHOUSE_NOPE: '1' });
  t.not(result.code, 0);
  t.regex(result.stderr, /invalid configuration/);
  t.regex(result.stderr, /^ {2}server\.port: .* \(from GATEHOUSE_SERVER__PORT\)$/m);
  t.regex(result.stderr, /^ {2}GATEHOUSE_NOPE: unknown environment variable/m);
  t.is(result.stdout, '');
});

test.serial('config check: a plugin whose strategy provider is off is a load error', async (t) => {
  const result = await runCli(workspace(), ['config', 'check'], { GATEHOUSE_PLUGINS__TOKENS__ENABLED: 'false' });
  t.not(result.code, 0);
  t.regex(result.stderr, /of plugin directory uses auth strategy "admin", provided by plugin tokens, which is disabled/);
});

test.serial('plugins list: every plugin with its state, strategies and routes', async (t) => {
  const result = await runCli(workspace(), ['plugins', 'list'], { GATEHOUSE_PLUGINS__TOKENS__ENABLED: 'false' });
  t.is(result.code, 0, result.stderr);
  for (const plugin of registry) {
    const state = plugin.name === 'tokens' ? 'disabled' : 'enabled';
    t.true(result.lines.includes(`${plugin.name} ${plugin.version} — ${state}`), `${plugin.name} is listed as ${state}`);
    for (const route of routesOf(plugin, DEFAULT_PLUGIN_CONFIG[plugin.name])) {
      t.true(
        result.lines.some((line) => line.includes(` ${route.path}  ${route.name}  auth=${route.auth.strategy}`) && line.includes(route.method)),
        `route ${route.name} is listed`,
      );
    }
  }
  t.true(result.lines.includes('  provides auth strategies: token, admin, optional_token'));
});

test.serial('migrate: applies every migration once, then says the database is up to date', async (t) => {
  const ws = workspace();
  const first = await runCli(ws, ['migrate']);
  t.is(first.code, 0, first.stderr);
  const migrations = registry.flatMap((plugin) => Object.keys(plugin.migrations ?? {}).map((file) => `${plugin.name}/${file}`));
  t.is(first.lines[0], `applied ${migrations.length} migration(s):`);
  for (const name of migrations) t.true(first.lines.includes(`  ${name}`), name);

  const second = await runCli(ws, ['migrate']);
  t.is(second.code, 0, second.stderr);
  t.deepEqual(second.lines, ['database is up to date']);
});

test.serial('start: prints the root token once on an empty database, serves it, drains on SIGTERM', async (t) => {
  const ws = workspace();
  const server = await startServer(ws);
  const tokenLine = server.lines().find((line) => line.includes('root token'));
  t.truthy(tokenLine, 'the root token is printed');
  const rootToken = tokenLine!.match(TOKEN)![0];
  t.is(server.stdout().match(TOKEN)!.length, 1, 'printed once, and never logged');

  const response = await server.get('/api/v4/user', rootToken);
  t.is(response.status, 200);
  const body = (await response.json()) as { id: number; username: string; is_admin?: boolean };
  t.is(body.username, 'root');
  t.is((await server.get('/api/v4/user', 'glpat-not-a-real-token-0000')).status, 401);
  t.deepEqual(await server.stop(), { code: 0, signal: null });
  // Log lines are handed to the writer thread in batches; every one held at SIGTERM is still written.
  const logLines = server.stdout().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line));
  const requests = logLines.filter((line) => line.msg === 'request' && line.url === '/api/v4/user');
  t.deepEqual(requests.map((line) => line.status), [200, 401]);
  t.is(requests[0].userId, body.id);
  t.true(logLines.some((line) => line.msg === 'draining' && line.signal === 'SIGTERM'));

  const again = await startServer(ws);
  t.false(again.lines().some((line) => line.includes('root token')), 'a second start on the same data does not print a token');
  t.is((await again.get('/api/v4/user', rootToken)).status, 200, 'the first token still works');
  t.deepEqual(await again.stop(), { code: 0, signal: null });
});

test.serial('start: GATEHOUSE_ROOT_TOKEN seeds the root admin\'s token', async (t) => {
  const rootToken = 'glpat-operator-chosen-0123456789';
  const server = await startServer(workspace(), { GATEHOUSE_ROOT_TOKEN: rootToken });
  try {
    t.is(server.stdout().match(TOKEN), null, 'the given token is neither echoed nor logged');
    t.true(server.lines().some((line) => line.includes('GATEHOUSE_ROOT_TOKEN')));
    const response = await server.get('/api/v4/user', rootToken);
    t.is(response.status, 200);
    t.is(((await response.json()) as { username: string }).username, 'root');
  } finally {
    t.deepEqual(await server.stop(), { code: 0, signal: null });
  }
});

test.serial('start: with tokens disabled, boot fails naming the admin strategy', async (t) => {
  const result = await runCli(workspace(), ['start'], { GATEHOUSE_PLUGINS__TOKENS__ENABLED: 'false' });
  t.not(result.code, 0);
  t.regex(result.stderr, /cannot load plugins/);
  t.regex(result.stderr, /uses auth strategy "admin", provided by plugin tokens, which is disabled/);
  t.false(result.lines.some((line) => line.startsWith('gatehouse listening')));
});

test.serial('admin create-user and create-token print a working token once', async (t) => {
  const ws = workspace();
  const user = await runCli(ws, ['admin', 'create-user', '--username', 'alice', '--email', 'alice@example.com', '--name', 'Alice']);
  t.is(user.code, 0, user.stderr);
  t.true(user.lines.some((line) => /^created user alice \(id \d+\)$/.test(line)), user.stdout);

  const token = await runCli(ws, ['admin', 'create-token', '--username', 'alice', '--name', 'cli', '--scopes', 'api,read_user']);
  t.is(token.code, 0, token.stderr);
  const printed: string[] = token.stdout.match(TOKEN) ?? [];
  t.is(printed.length, 1, token.stdout);

  const server = await startServer(ws);
  try {
    const response = await server.get('/api/v4/user', printed[0]!);
    t.is(response.status, 200);
    t.is(((await response.json()) as { username: string }).username, 'alice');
  } finally {
    t.deepEqual(await server.stop(), { code: 0, signal: null });
  }
});

test.serial('admin with bad arguments prints usage and fails', async (t) => {
  const result = await runCli(workspace(), ['admin', 'create-user', '--username', 'bob']);
  t.not(result.code, 0);
  t.regex(result.stderr, /usage: gatehouse <command>/);
});

test.serial('the knex CLI sees the same migrations through knexfile.ts (npm run knex)', async (t) => {
  const ws = workspace();
  const knex = (command: string) => runCli(ws, ['--knexfile', 'knexfile.ts', command], {}, { script: KNEX_CLI, cwd: ROOT });
  const migrations = registry.flatMap((plugin) => Object.keys(plugin.migrations ?? {}).map((file) => `${plugin.name}/${file}`));

  const pending = await knex('migrate:list');
  t.is(pending.code, 0, pending.stderr);
  t.true(pending.lines.includes(`Found ${migrations.length} Pending Migration file/files.`), pending.stdout);
  for (const name of migrations) t.true(pending.lines.includes(name), name);

  t.is((await knex('migrate:latest')).code, 0);
  const afterwards = await runCli(ws, ['migrate']);
  t.deepEqual(afterwards.lines, ['database is up to date'], 'gatehouse migrate agrees with what knex ran');
});

const TEAM_NOTES = fileURLToPath(new URL('../fixtures/plugins/team-notes.mjs', import.meta.url));
const GREETINGS = fileURLToPath(new URL('../fixtures/plugins/greetings.mjs', import.meta.url));
const TEAM_NOTES_MIGRATION = 'team-notes/20261204000000_create_team_notes';

/** A workspace whose GATEHOUSE_CONFIG file enables plugins from outside the repository. */
function workspaceWithConfig(config: unknown) {
  const ws = workspace();
  const file = join(ws.cwd, 'gatehouse.json');
  writeFileSync(file, JSON.stringify(config));
  return { ...ws, env: { ...ws.env, GATEHOUSE_CONFIG: file } };
}

test.serial('external plugins: plugins list shows them with their module, state and routes; config check accepts them', async (t) => {
  const ws = workspaceWithConfig({
    plugins: {
      'team-notes': { module: TEAM_NOTES, maxLength: 50 },
      missing: { module: './plugins/missing.mjs', enabled: false },
    },
  });
  const list = await runCli(ws, ['plugins', 'list']);
  t.is(list.code, 0, list.stderr);
  const start = list.lines.indexOf('team-notes 0.3.0 — enabled');
  t.true(start > 0, list.stdout);
  t.deepEqual(list.lines.slice(start, start + 6), [
    'team-notes 0.3.0 — enabled',
    '  Short notes a team leaves for itself.',
    `  module: ${TEAM_NOTES}`,
    '  flag team_notes_api (release, default on): Serve the team notes API.',
    '  POST   /api/v4/team_notes  team-notes.create  auth=token [api]',
    '  GET    /api/v4/team_notes  team-notes.list  auth=token [read_api api]',
  ].map((line, index) => (index >= 4 ? `${line} flag=team_notes_api` : line)));
  t.deepEqual(list.lines.slice(-2), ['missing — module not loaded (disabled)', `  plugin missing: module "./plugins/missing.mjs" not found (looked up from ${ws.cwd})`]);
  for (const plugin of registry) t.true(list.lines.includes(`${plugin.name} ${plugin.version} — enabled`), plugin.name);

  const check = await runCli(ws, ['config', 'check']);
  t.is(check.code, 0, check.stderr);
  t.deepEqual(check.lines, ['configuration OK']);
});

test.serial('external plugins: plugins list shows the routes a plugin makes from its config; config check finds their clashes', async (t) => {
  const ws = workspaceWithConfig({
    plugins: {
      greetings: {
        module: GREETINGS,
        greetings: [
          { path: '/api/v4/greetings/hello', text: 'Hello' },
          { path: '/api/v4/greetings/bonjour', text: 'Bonjour' },
        ],
      },
    },
  });
  const list = await runCli(ws, ['plugins', 'list']);
  t.is(list.code, 0, list.stderr);
  const start = list.lines.indexOf('greetings 1.0.0 — enabled');
  t.true(start > 0, list.stdout);
  t.deepEqual(list.lines.slice(start, start + 5), [
    'greetings 1.0.0 — enabled',
    '  Greetings whose routes an operator lists in config.',
    `  module: ${GREETINGS}`,
    '  GET    /api/v4/greetings/hello  greetings.greeting-1  auth=none',
    '  GET    /api/v4/greetings/bonjour  greetings.greeting-2  auth=none',
  ]);
  t.deepEqual((await runCli(ws, ['config', 'check'])).lines, ['configuration OK']);

  const clashing = workspaceWithConfig({ plugins: { greetings: { module: GREETINGS, greetings: [{ path: '/api/v4/version', text: 'v' }] } } });
  const check = await runCli(clashing, ['config', 'check']);
  t.is(check.code, 2);
  t.deepEqual(
    check.stderr.split('\n').filter((line) => line.startsWith('  - ')),
    ['  - duplicate route GET /api/v4/version: directory.version and greetings.greeting-1'],
  );
});

test.serial('external plugins: config check lists every problem of their modules and manifests at once', async (t) => {
  const ws = workspaceWithConfig({
    plugins: {
      'team-notes': { module: TEAM_NOTES, maxLength: 50 },
      missing: { module: './plugins/missing.mjs' },
      'rule-breaker': { module: fileURLToPath(new URL('../fixtures/plugins/rule-breaker.mjs', import.meta.url)) },
    },
  });
  const result = await runCli(ws, ['config', 'check'], { GATEHOUSE_PLUGINS__DIRECTORY__MODULE: TEAM_NOTES });
  t.is(result.code, 2);
  t.is(result.stdout, '');
  const listed = result.stderr.split('\n').filter((line) => line.startsWith('  - '));
  t.deepEqual(listed, [
    `  - plugin missing: module "./plugins/missing.mjs" not found (looked up from ${ws.cwd})`,
    `  - plugin directory: module "${TEAM_NOTES}" cannot be loaded under the name of a plugin shipped with gatehouse`,
    '  - plugin rule-breaker: needs core ^2.0.0, this core is 1.0.0',
    '  - plugin rule-breaker depends on unknown plugin "ghost-plugin"',
    '  - route rule-breaker.kerberos (GET /api/v4/rule_breaker/kerberos) of plugin rule-breaker uses unknown auth strategy "kerberos"',
    '  - route rule-breaker.flagged (GET /api/v4/rule_breaker/flagged) of plugin rule-breaker uses undeclared flag "nobody_declared_this"',
    '  - duplicate route GET /api/v4/user: directory.current-user and rule-breaker.user',
  ]);
  t.regex(result.stderr, /^gatehouse: cannot load plugins:$/m);

  const badConfig = await runCli(ws, ['config', 'check'], { GATEHOUSE_PLUGINS__TEAM_NOTES__MAX_LENGTH: 'long' });
  t.is(badConfig.code, 2);
  t.regex(badConfig.stderr, /^ {2}plugins\.team-notes\.maxLength: .* \(from GATEHOUSE_PLUGINS__TEAM_NOTES__MAX_LENGTH\)$/m);
});

test.serial('external plugins: gatehouse migrate and the knex CLI run their migrations under <plugin>/<file>', async (t) => {
  const ws = workspaceWithConfig({ plugins: { 'team-notes': { module: TEAM_NOTES } } });
  const knex = (command: string) => runCli(ws, ['--knexfile', 'knexfile.ts', command], {}, { script: KNEX_CLI, cwd: ROOT });
  const pending = await knex('migrate:list');
  t.is(pending.code, 0, pending.stderr);
  t.true(pending.lines.includes(TEAM_NOTES_MIGRATION), pending.stdout);

  const first = await runCli(ws, ['migrate']);
  t.is(first.code, 0, first.stderr);
  const shipped = registry.flatMap((plugin) => Object.keys(plugin.migrations ?? {})).length;
  t.is(first.lines[0], `applied ${shipped + 1} migration(s):`);
  t.is(first.lines.at(-1), `  ${TEAM_NOTES_MIGRATION}`);

  const listed = await knex('migrate:list');
  t.true(listed.lines.includes('No Pending Migration files Found.'), listed.stdout);
  t.deepEqual((await runCli(ws, ['migrate'])).lines, ['database is up to date']);
});

test.serial('external plugins: gatehouse start migrates and serves them', async (t) => {
  const rootToken = 'glpat-operator-chosen-0123456789';
  const ws = workspaceWithConfig({ plugins: { 'team-notes': { module: TEAM_NOTES, label: 'memo' } } });
  const server = await startServer(ws, { GATEHOUSE_ROOT_TOKEN: rootToken });
  try {
    const response = await fetch(`${server.url}/api/v4/team_notes`, {
      method: 'POST',
      headers: { 'PRIVATE-TOKEN': rootToken, 'Content-Type': 'application/json' },
      body: JSON.stringify({ body: 'from the command line' }),
      signal: AbortSignal.timeout(10_000),
    });
    t.is(response.status, 201);
    t.like(await response.json(), { id: 1, kind: 'memo', body: 'from the command line', author: 'root' });
    const listed = await server.get('/api/v4/team_notes', rootToken);
    t.deepEqual(await listed.json(), [{ id: 1, kind: 'memo', body: 'from the command line' }]);
  } finally {
    t.deepEqual(await server.stop(), { code: 0, signal: null });
  }
});
