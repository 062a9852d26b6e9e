import test from 'ava';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../core/config/loader.js';
import { createStaticFlags } from '../../core/flags/resolver.js';
import { createGateway } from '../../core/gateway.js';
import { registry } from '../../core/plugins/registry.js';

// Serial: the test sets this worker's umask, which no other test in the file may see.

const modeOf = (path: string) => (statSync(path).mode & 0o777).toString(8);

test.serial('the data directory, the SQLite file with its -wal and -shm, and every secret file are private to the owner whatever the umask', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'gatehouse-data-dir-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  // An operator's existing directory keeps its mode; what gatehouse creates under it is private.
  mkdirSync(join(root, 'srv'), { mode: 0o755 });
  const dataDir = join(root, 'srv', 'gatehouse', 'data');
  // The most permissive umask: without explicit modes everything would be group- and world-readable.
  const previousUmask = process.umask(0);
  t.teardown(() => void process.umask(previousUmask));

  const config = loadConfig({ plugins: registry, files: false, env: {}, overrides: { dataDir, log: { level: 'silent', requests: false } } });
  const gateway = await createGateway({
    config,
    registry,
    flags: createStaticFlags(registry.flatMap((plugin) => plugin.flags ?? [])),
    logger: pino({ level: 'silent' }),
  });
  t.teardown(() => gateway.close());
  await gateway.db('gatehouse_migrations').count({ n: '*' });

  t.is(modeOf(join(root, 'srv')), '755');
  t.is(modeOf(join(root, 'srv', 'gatehouse')), '700');
  t.is(modeOf(dataDir), '700');
  const files = readdirSync(dataDir).sort();
  t.true(files.includes('gatehouse.sqlite3'));
  t.true(files.includes('gatehouse.sqlite3-wal'), 'the database is open in WAL mode');
  t.true(files.includes('gatehouse.sqlite3-shm'));
  t.true(files.includes('.gatehouse_token_pepper'), 'secret files were generated');
  t.deepEqual(
    files.map((file) => [file, modeOf(join(dataDir, file))]),
    files.map((file) => [file, '600']),
  );
});
