import test from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import knexFactory, { type Knex } from 'knex';
import { TEST_DATABASE_URL, TEST_REDIS_URL, backendName } from '../helpers/app.js';
import { keepAliveLoad, type LoadRequest } from '../helpers/keep-alive-load.js';

// `gatehouse start` as operators run it, stopped with SIGTERM while keep-alive clients keep sending.

const MAIN = fileURLToPath(new URL('../../core/main.ts', import.meta.url));
const CONFIG_DIR = fileURLToPath(new URL('../../config', import.meta.url));
const TSX = import.meta.resolve('tsx');
const ROOT_TOKEN = 'glpat-shutdown-test-0123456789';
/** Generous: boot runs migrations in a fresh node process on a small shared machine. */
const BOOT_DEADLINE_MS = 45_000;
const SHUTDOWN_TIMEOUT_MS = 20_000;
const CLIENTS = 20;
const WRITERS = 5;

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
  const { port } = probe.address() as AddressInfo;
  await new Promise((done) => probe.close(done));
  return port;
}

/** The database the process uses: a file in its data directory, or a fresh PostgreSQL schema (with Redis). */
async function backend(dataDir: string) {
  if (!TEST_DATABASE_URL) {
    const filename = join(dataDir, 'gatehouse.sqlite3');
    return {
      env: {},
      open: (): Knex => knexFactory({ client: 'sqlite3', connection: { filename }, useNullAsDefault: true }),
      drop: async () => {},
    };
  }
  const schema = `gh_shutdown_${randomBytes(6).toString('hex')}`;
  const admin = knexFactory({ client: 'pg', connection: TEST_DATABASE_URL, pool: { min: 0, max: 1 } });
  await admin.raw('create schema ??', [schema]);
  const env: Record<string, string> = { GATEHOUSE_DB__CLIENT: 'pg', GATEHOUSE_DB__URL: TEST_DATABASE_URL, GATEHOUSE_DB__SEARCH_PATH: schema };
  if (TEST_REDIS_URL) Object.assign(env, { GATEHOUSE_REDIS__URL: TEST_REDIS_URL, GATEHOUSE_REDIS__KEY_PREFIX: `${schema}:` });
  return {
    env,
    open: (): Knex => knexFactory({ client: 'pg', connection: TEST_DATABASE_URL, searchPath: [schema], pool: { min: 0, max: 1 } }),
    drop: async () => {
      await admin.raw('drop schema if exists ?? cascade', [schema]);
      await admin.destroy();
    },
  };
}

test(`${backendName}: SIGTERM under keep-alive load: no request reset, no failed write committed, exit 0 well before the timeout`, async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'gatehouse-shutdown-'));
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }));
  cpSync(CONFIG_DIR, join(cwd, 'config'), { recursive: true });
  const dataDir = join(cwd, 'state');
  const db = await backend(dataDir);
  t.teardown(db.drop);

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--conditions=development', '--import', TSX, MAIN, 'start'], {
    cwd,
    env: {
      PATH: process.env.PATH ?? '',
      GATEHOUSE_DATA_DIR: dataDir,
      GATEHOUSE_SERVER__PORT: String(port),
      GATEHOUSE_SERVER__SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      GATEHOUSE_ROOT_TOKEN: ROOT_TOKEN,
      GATEHOUSE_LOG__REQUESTS: 'false',
      ...db.env,
    },
  });
  t.teardown(() => void child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((done) =>
    child.once('exit', (code, signal) => done({ code, signal, at: Date.now() })),
  );

  const listening = `gatehouse listening on ${url}`;
  const bootDeadline = Date.now() + BOOT_DEADLINE_MS;
  while (!stdout.includes(listening)) {
    if (Date.now() > bootDeadline) throw new Error(`no listening line\n${stdout}\n${stderr}`);
    const early = await Promise.race([exited, new Promise((done) => setTimeout(() => done(undefined), 50))]);
    if (early) throw new Error(`gatehouse start exited early: ${JSON.stringify(early)}\n${stderr}`);
  }

  const user = await fetch(`${url}/api/v4/user`, { headers: { 'PRIVATE-TOKEN': ROOT_TOKEN } });
  const rootId = ((await user.json()) as { id: number }).id;
  const next = (client: number, n: number): LoadRequest =>
    client < WRITERS
      ? {
          method: 'POST',
          path: `/api/v4/users/${rootId}/personal_access_tokens`,
          headers: { 'private-token': ROOT_TOKEN },
          body: { name: `shutdown-${client}-${n}`, scopes: ['read_user'] },
        }
      : { method: 'GET', path: '/api/v4/user', headers: { 'private-token': ROOT_TOKEN } };
  const load = keepAliveLoad(url, CLIENTS, next);
  await load.warmedUp(3);

  const signalledAt = Date.now();
  child.kill('SIGTERM');
  const result = await load.finished;
  const exit = await exited;

  t.log(`${result.answers.length} answers, ${result.refused.length} refused at connect, exit ${exit.at - signalledAt} ms after SIGTERM`);
  t.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, stderr);
  // The drain ends when the last connection closes (about the one-second idle grace), not at the timeout.
  t.true(exit.at - signalledAt < SHUTDOWN_TIMEOUT_MS / 2, `exited ${exit.at - signalledAt} ms after SIGTERM`);
  t.deepEqual(result.failures, [], 'no request failed once sent');
  t.deepEqual(
    result.answers.filter(({ answer, request }) => answer.status !== (request.method === 'POST' ? 201 : 200)).map(({ answer }) => answer),
    [],
  );
  t.is(new Set(result.refused.map(({ client }) => client)).size, CLIENTS, 'every client ended on a refused connection');
  t.false(stdout.includes('shutdown timeout'), 'nothing was cut at the timeout');

  const names = (requests: LoadRequest[]) => requests.filter((r) => r.method === 'POST').map((r) => (r.body as { name: string }).name);
  const answeredWrites = names(result.answers.map(({ request }) => request));
  const unansweredWrites = names([...result.refused, ...result.failures].map(({ request }) => request));
  const knex = db.open();
  try {
    const stored = (await knex('tokens_personal_access_tokens').where('name', 'like', 'shutdown-%').pluck('name')) as string[];
    t.deepEqual(stored.sort(), answeredWrites.sort(), 'exactly the answered writes are stored');
    t.deepEqual(unansweredWrites.filter((name) => stored.includes(name)), [], 'no write whose client saw an error committed');
  } finally {
    await knex.destroy();
  }
});
