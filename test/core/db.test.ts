import test from 'ava';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { loadConfig } from '../../core/config/loader.js';
import { createDb, MIGRATIONS_TABLE, migrateLatest, PluginMigrationSource } from '../../core/db/index.js';
import { resolvePlugins } from '../../core/plugins/loader.js';
import { definePlugin, type AnyPluginManifest } from '../../core/plugins/types.js';
import { TEST_DATABASE_URL } from '../helpers/app.js';

// Two plugins whose tables reference each other across plugins, declared child first so only the
// dependency order can make the migrations run in a working order.
const basePlugin = definePlugin({
  name: 'base',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'Owns base_items.',
  migrations: {
    '20260101000000_create_base_items': {
      up: (db) => db.schema.createTable('base_items', (table) => table.increments('id')),
      down: (db) => db.schema.dropTable('base_items'),
    },
    '20260201000000_add_base_name': {
      up: (db) => db.schema.alterTable('base_items', (table) => table.string('name')),
      down: (db) => db.schema.alterTable('base_items', (table) => table.dropColumn('name')),
    },
  },
});
const childPlugin = definePlugin({
  name: 'child',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'Owns child_items, which point at base_items.',
  dependsOn: ['base'] as never,
  migrations: {
    // Older timestamp than base's second migration: plugin order comes before timestamps.
    '20250101000000_create_child_items': {
      up: (db) =>
        db.schema.createTable('child_items', (table) => {
          table.increments('id');
          table.integer('base_id').notNullable().references('id').inTable('base_items');
        }),
      down: (db) => db.schema.dropTable('child_items'),
    },
  },
});
const registry = [childPlugin, basePlugin] as AnyPluginManifest[];
const EXPECTED_ORDER = [
  'base/20260101000000_create_base_items',
  'base/20260201000000_add_base_name',
  'child/20250101000000_create_child_items',
];

const cleanups: Array<() => Promise<void> | void> = [];
test.after.always(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function sqliteDb(filename?: string): Knex {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-db-'));
  const config = loadConfig({ plugins: registry, files: false, env: {}, overrides: { dataDir, db: filename ? { filename } : {} } });
  const db = createDb(config);
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  cleanups.push(() => db.destroy());
  return db;
}

async function assertMigrations(t: import('ava').ExecutionContext, db: Knex) {
  const plugins = resolvePlugins(registry, new Set(['base', 'child']));
  t.deepEqual(await migrateLatest(db, plugins), EXPECTED_ORDER);
  const recorded = await db(MIGRATIONS_TABLE).orderBy('id').pluck('name');
  t.deepEqual(recorded, EXPECTED_ORDER);
  t.deepEqual(await migrateLatest(db, plugins), [], 'a second run has nothing to do');

  // Switching a plugin off leaves its recorded migrations alone and is not an error.
  t.deepEqual(await migrateLatest(db, resolvePlugins(registry, new Set(['base']))), []);

  const [baseId] = await db('base_items').insert({ name: 'one' }, ['id']);
  await db('child_items').insert({ base_id: typeof baseId === 'object' ? baseId.id : baseId });
  await t.throwsAsync(db('child_items').insert({ base_id: 424242 }), undefined, 'foreign keys are enforced');
}

test('the migration source names migrations <plugin>/<file>, in plugin dependency order then by file', async (t) => {
  const source = new PluginMigrationSource(resolvePlugins(registry, new Set(['base', 'child'])));
  const migrations = await source.getMigrations();
  t.deepEqual(migrations.map((m) => source.getMigrationName(m)), EXPECTED_ORDER);
  t.deepEqual(
    migrations.map((m) => m.file),
    EXPECTED_ORDER,
    'the knex CLI prints pending migrations by file',
  );
  t.is(await source.getMigration(migrations[0]), basePlugin.migrations!['20260101000000_create_base_items']);
});

test('sqlite file: migrations run in order and are recorded in gatehouse_migrations', async (t) => {
  await assertMigrations(t, sqliteDb());
});

test('sqlite file: the database lives in the data directory with foreign keys on and WAL', async (t) => {
  const db = sqliteDb();
  const filename = (db.client.config.connection as { filename: string }).filename;
  t.regex(filename, /gatehouse\.sqlite3$/);
  await db.raw('select 1');
  t.true(existsSync(filename));
  t.deepEqual(await db.raw('PRAGMA foreign_keys'), [{ foreign_keys: 1 }]);
  t.deepEqual(await db.raw('PRAGMA journal_mode'), [{ journal_mode: 'wal' }]);
});

test('sqlite in memory: foreign keys on as well', async (t) => {
  const db = sqliteDb(':memory:');
  t.deepEqual(await db.raw('PRAGMA foreign_keys'), [{ foreign_keys: 1 }]);
  await assertMigrations(t, db);
});

if (TEST_DATABASE_URL) {
  test('postgresql: the same migrations in a schema of their own', async (t) => {
    const schema = `gh_test_${randomBytes(6).toString('hex')}`;
    const admin = knexFactory({ client: 'pg', connection: TEST_DATABASE_URL, pool: { min: 0, max: 1 } });
    cleanups.push(() => admin.destroy());
    await admin.raw('create schema ??', [schema]);
    cleanups.push(async () => void (await admin.raw('drop schema if exists ?? cascade', [schema])));

    const config = loadConfig({
      plugins: registry,
      files: false,
      env: {},
      overrides: { db: { client: 'pg', url: TEST_DATABASE_URL, searchPath: schema, poolMax: 2 } },
    });
    const db = createDb(config);
    cleanups.push(() => db.destroy());
    await assertMigrations(t, db);
    const tables = await admin('information_schema.tables').where({ table_schema: schema }).orderBy('table_name').pluck('table_name');
    t.deepEqual(tables, ['base_items', 'child_items', MIGRATIONS_TABLE, `${MIGRATIONS_TABLE}_lock`]);
  });
} else {
  test.skip('PostgreSQL tests skipped: GATEHOUSE_TEST_DATABASE_URL is not set', () => {});
}
