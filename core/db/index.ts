import { dirname, resolve } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import type { AppConfig } from '../config/schema.js';
import type { Logger } from 'pino';
import type { AnyPluginManifest } from '../plugins/types.js';
import { ensurePrivateFile, makePrivateDir } from '../util/private-files.js';

/**
 * Query errors carry the statement with its placeholders, never the bound values (secrets, digests,
 * whole bodies) that knex would otherwise inline into their messages, and so into the log.
 */
const COMPILE_SQL_ON_ERROR = false;

/** The knex settings for a config: an SQLite file (WAL, foreign keys) by default, PostgreSQL when asked. */
export function knexConfig(config: Pick<AppConfig, 'db' | 'dataDir'>, logger?: Logger): Knex.Config {
  // knex logs through console by default; send it to the structured log instead.
  const log = logger && {
    warn: (message: unknown) => logger.warn({ knex: message }, 'database warning'),
    error: (message: unknown) => logger.error({ knex: message }, 'database error'),
    deprecate: (method: string, alternative: string) => logger.warn({ method, alternative }, 'knex deprecation'),
    debug: (message: unknown) => logger.debug({ knex: message }, 'database debug'),
  };
  if (config.db.client === 'pg') {
    return {
      client: 'pg',
      log,
      compileSqlOnError: COMPILE_SQL_ON_ERROR,
      acquireConnectionTimeout: config.db.acquireTimeoutMs,
      connection: config.db.url,
      searchPath: config.db.searchPath ? [config.db.searchPath] : undefined,
      pool: { min: 0, max: config.db.poolMax },
    };
  }
  const filename = config.db.filename ?? resolve(config.dataDir, 'gatehouse.sqlite3');
  const inMemory = filename === ':memory:';
  if (!inMemory) createPrivateDatabaseFile(resolve(filename));
  return {
    client: 'sqlite3',
    log,
    compileSqlOnError: COMPILE_SQL_ON_ERROR,
    acquireConnectionTimeout: config.db.acquireTimeoutMs,
    connection: { filename },
    useNullAsDefault: true,
    // One connection: SQLite serialises writers anyway, and an in-memory database exists per connection.
    pool: {
      min: 1,
      max: 1,
      idleTimeoutMillis: Number.MAX_SAFE_INTEGER,
      afterCreate(conn: { exec(sql: string, cb: (err: Error | null) => void): void }, done: (err: Error | null, conn: unknown) => void) {
        const pragmas = ['PRAGMA foreign_keys = ON', 'PRAGMA busy_timeout = 5000'];
        if (!inMemory) pragmas.push('PRAGMA journal_mode = WAL', 'PRAGMA synchronous = NORMAL');
        conn.exec(pragmas.join('; '), (err) => done(err, conn));
      },
    },
  };
}

/**
 * Creates the SQLite file (0600) and its directory (0700) before sqlite3 opens it: it holds password
 * hashes and token digests. SQLite gives the -wal and -shm files it creates the database file's mode.
 */
function createPrivateDatabaseFile(filename: string): void {
  makePrivateDir(dirname(filename));
  ensurePrivateFile(filename);
}

export function createDb(config: Pick<AppConfig, 'db' | 'dataDir'>, logger?: Logger): Knex {
  return knexFactory(knexConfig(config, logger));
}

interface NamedMigration {
  name: string;
  /** The same as `name`: the knex CLI prints pending migrations by their `file`. */
  file: string;
  migration: Knex.Migration;
}

/**
 * Migrations of the enabled plugins, named `<plugin>/<file>`, in plugin dependency order then by
 * timestamp, so a plugin's tables exist before those of the plugins that reference them.
 */
export class PluginMigrationSource implements Knex.MigrationSource<NamedMigration> {
  constructor(private readonly plugins: readonly AnyPluginManifest[]) {}

  async getMigrations(): Promise<NamedMigration[]> {
    return this.plugins.flatMap((plugin) =>
      Object.entries(plugin.migrations ?? {})
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([file, migration]) => {
          const name = `${plugin.name}/${file}`;
          return { name, file: name, migration };
        }),
    );
  }

  getMigrationName(migration: NamedMigration): string {
    return migration.name;
  }

  async getMigration(migration: NamedMigration): Promise<Knex.Migration> {
    return migration.migration;
  }
}

export const MIGRATIONS_TABLE = 'gatehouse_migrations';

export function migrationConfig(plugins: readonly AnyPluginManifest[]): Knex.MigratorConfig {
  return {
    migrationSource: new PluginMigrationSource(plugins),
    tableName: MIGRATIONS_TABLE,
    // Migrations of plugins that are switched off stay recorded; that is not an error.
    disableMigrationsListValidation: true,
  };
}

/** Runs pending migrations of the given plugins; returns the names it ran. */
export async function migrateLatest(db: Knex, plugins: readonly AnyPluginManifest[]): Promise<string[]> {
  const [, ran] = (await db.migrate.latest(migrationConfig(plugins))) as [number, string[]];
  return ran;
}

/** A cheap round trip, for readiness. */
export async function pingDb(db: Knex): Promise<void> {
  await db.raw('select 1');
}

/**
 * When `error` is a unique-constraint violation (SQLite or PostgreSQL), the text naming the violated
 * constraint or columns (e.g. `directory_users.email_lower`); undefined otherwise. Lets services turn
 * a race lost to a concurrent insert into the same "already taken" answer their pre-check gives.
 */
export function uniqueViolation(error: unknown): string | undefined {
  const e = error as { code?: string; message?: string; constraint?: string; detail?: string };
  if (e?.code === '23505') return `${e.constraint ?? ''} ${e.detail ?? ''}`;
  if (e?.code === 'SQLITE_CONSTRAINT' && /UNIQUE constraint failed/.test(e.message ?? '')) return e.message;
  return undefined;
}

/** The largest value of an `integer` column, ids (`increments`) included: PostgreSQL's 4-byte integer. */
export const MAX_INTEGER_COLUMN = 2_147_483_647;

/**
 * Whether a value can be the id of a row: an integer an id column holds. A lookup by anything else
 * finds nothing, as ActiveRecord finds nothing for an out-of-range id, instead of reaching PostgreSQL,
 * which refuses such a value with an error rather than matching no row.
 */
export function isRowId(value: unknown): value is number {
  return fitsIntegerColumn(value);
}

/** Whether an `integer` column holds the value (PostgreSQL refuses any other with an error). */
export function fitsIntegerColumn(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= -MAX_INTEGER_COLUMN - 1 && (value as number) <= MAX_INTEGER_COLUMN;
}
