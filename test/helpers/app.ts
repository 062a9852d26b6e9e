import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import knexFactory, { type Knex } from 'knex';
import { Redis } from 'ioredis';
import pino from 'pino';
import { deepMerge } from '../../core/config/loader.js';
import { createMemorySecretStore, type SecretStore } from '../../core/config/secrets.js';
import { createStaticFlags } from '../../core/flags/resolver.js';
import { createGateway, type Gateway } from '../../core/gateway.js';
import { createGatewayServer } from '../../core/http/response.js';
import { loadConfigWithPlugins } from '../../core/plugins/external.js';
import { allFlagsOf } from '../../core/plugins/loader.js';
import { registry as defaultRegistry } from '../../core/plugins/registry.js';
import type { AnyPluginManifest } from '../../core/plugins/types.js';
import { send, TestClock, type RequestOptions, type TestResponse } from '../../core/testing.js';

/** Where the optional real services are (CI sets both). */
export const TEST_DATABASE_URL = process.env.GATEHOUSE_TEST_DATABASE_URL;
export const TEST_REDIS_URL = process.env.GATEHOUSE_TEST_REDIS_URL;
export const backendName = TEST_DATABASE_URL ? 'postgresql' : 'sqlite';

export { TestClock, send, type RequestOptions, type TestResponse } from '../../core/testing.js';

export const ROOT_TOKEN = 'glpat-root-test-token-0123456789';
export const EXTERNAL_URL = 'http://gatehouse.test';

export interface TestApp {
  url: string;
  gateway: Gateway;
  db: Knex;
  clock: TestClock;
  flags: ReturnType<typeof createStaticFlags>;
  services: Record<string, any>;
  /** The secret files of this app (kept in memory); instances joining it share them, as deployments do. */
  secrets: SecretStore;
  /** Parsed log lines, when started with `captureLogs`. */
  logs: Array<Record<string, any>>;
  request<T = any>(path: string, options?: RequestOptions): Promise<TestResponse<T>>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  /** Config overrides on top of the test defaults (deep-merged); `plugins.<name>.module` loads a plugin from a file. */
  config?: Record<string, unknown>;
  /** GATEHOUSE_* variables, read as the process environment is (below `config`). */
  env?: Record<string, string>;
  /** The working directory `plugins.<name>.module` paths and package names are resolved from. */
  cwd?: string;
  flags?: Record<string, boolean>;
  registry?: readonly AnyPluginManifest[];
  clock?: TestClock;
  /**
   * Make the external URL the address the app listens on (default: EXTERNAL_URL), for clients that
   * check the URLs in answers against the one they were given (python-gitlab).
   */
  ownExternalUrl?: boolean;
  /** Use Redis when GATEHOUSE_TEST_REDIS_URL is set (default true). */
  redis?: boolean;
  /** Capture log lines (level info and up) into `app.logs` instead of discarding them. */
  captureLogs?: boolean;
  /**
   * Another instance of a running app: same PostgreSQL schema and Redis prefix (needs both, as in a
   * multi-instance deployment). Its close leaves the shared database and keys to the first app.
   */
  joining?: TestApp;
  /** The secret files to boot with (e.g. seeded keys, or kept across a restart); default a fresh in-memory store. */
  secrets?: SecretStore;
}

/** Creates a uniquely named PostgreSQL schema for one app; dropped by the returned function. */
async function createPgSchema(url: string): Promise<{ schema: string; drop: () => Promise<void> }> {
  const schema = `gh_test_${randomBytes(6).toString('hex')}`;
  const admin = knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 1 } });
  await admin.raw('create schema ??', [schema]);
  await admin.destroy();
  return {
    schema,
    async drop() {
      const db = knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 1 } });
      await db.raw('drop schema if exists ?? cascade', [schema]);
      await db.destroy();
    },
  };
}

async function dropRedisPrefix(url: string, prefix: string) {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** A port nobody listens on now (the kernel's pick for port 0, released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Boots a real gateway for one test: in-memory SQLite (or a fresh PostgreSQL schema), static flags,
 * an injected clock, the root admin seeded with ROOT_TOKEN, listening on 127.0.0.1 port 0.
 */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const clock = options.clock ?? new TestClock();
  const joined = options.joining?.gateway.config;
  if (joined && (joined.db.client !== 'pg' || !joined.redis.url)) throw new Error('joining an app needs PostgreSQL and Redis');
  const pg = TEST_DATABASE_URL && !joined ? await createPgSchema(TEST_DATABASE_URL) : undefined;
  const useRedis = !joined && (options.redis ?? true) && TEST_REDIS_URL;
  const redisPrefix = `gh-test-${randomBytes(6).toString('hex')}:`;
  const port = options.ownExternalUrl ? await freePort() : 0;
  const base: Record<string, unknown> = {
    externalUrl: options.ownExternalUrl ? `http://127.0.0.1:${port}` : EXTERNAL_URL,
    rootToken: ROOT_TOKEN,
    db: joined
      ? { client: 'pg', url: joined.db.url, searchPath: joined.db.searchPath, poolMax: 4 }
      : pg
        ? { client: 'pg', url: TEST_DATABASE_URL, searchPath: pg.schema, poolMax: 4 }
        : // One connection serves every test of a file at once: on a loaded CI machine the queue for it
          // can outlast the production bound (5 s), which is there to cut requests short in an outage.
          { client: 'sqlite3', filename: ':memory:', acquireTimeoutMs: 60_000 },
    redis: joined ? { url: joined.redis.url, keyPrefix: joined.redis.keyPrefix } : useRedis ? { url: TEST_REDIS_URL, keyPrefix: redisPrefix } : {},
    // Captured logs are written by the gateway's own loggers (redaction and serializers as in production).
    log: { level: options.captureLogs ? 'info' : (process.env.GATEHOUSE_TEST_LOG ?? 'silent'), requests: false },
  };
  const loaded = await loadConfigWithPlugins({
    shipped: options.registry ?? defaultRegistry,
    cwd: options.cwd,
    files: false,
    env: options.env ?? {},
    overrides: deepMerge(base, options.config ?? {}),
  });
  const { config, registry, moduleProblems } = loaded;
  const flags = createStaticFlags(allFlagsOf(registry, config), options.flags);
  const logs: Array<Record<string, any>> = [];
  const logging = options.captureLogs
    ? { logDestination: { write: (line: string) => void logs.push(JSON.parse(line)) } }
    : { logger: pino({ level: config.log.level }) };
  const secrets = options.secrets ?? options.joining?.secrets ?? createMemorySecretStore();
  let gateway: Gateway;
  try {
    gateway = await createGateway({
      config,
      registry,
      moduleProblems,
      clock,
      flags,
      secrets,
      ...logging,
    });
  } catch (error) {
    await pg?.drop();
    throw error;
  }
  const server: Server = createGatewayServer(gateway.app.callback());
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    gateway,
    db: gateway.db,
    clock,
    flags,
    services: gateway.services as Record<string, any>,
    secrets,
    logs,
    request: (path, requestOptions) => send(url, path, requestOptions),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await gateway.close();
      await pg?.drop();
      if (useRedis) await dropRedisPrefix(TEST_REDIS_URL!, redisPrefix);
    },
  };
}
