/**
 * The plugin author's kit, `gatehouse/testing`: boots a real gateway with the plugins under test on an
 * in-memory SQLite database, with static feature flags, a movable clock and a seeded root admin,
 * listening on 127.0.0.1 on a port of the kernel's choosing, so a plugin's own tests send real HTTP
 * requests and read the database the plugin wrote.
 *
 * ```js
 * import test from 'ava';
 * import { startGateway } from 'gatehouse/testing';
 * import plugin from '../index.js';
 *
 * test('lists nothing at first', async (t) => {
 *   const gateway = await startGateway({ plugins: [plugin] });
 *   t.teardown(() => gateway.close());
 *   const response = await gateway.request('/api/v4/things', { token: gateway.rootToken });
 *   t.deepEqual(response.body, []);
 * });
 * ```
 *
 * @packageDocumentation
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Knex } from 'knex';
import pino from 'pino';
import { deepMerge } from './config/loader.js';
import { allFlagsOf } from './plugins/loader.js';
import { createMemorySecretStore } from './config/secrets.js';
import { createStaticFlags } from './flags/resolver.js';
import { createGateway, type Gateway } from './gateway.js';
import { createGatewayServer } from './http/response.js';
import { loadConfigWithPlugins, type LoadedConfig } from './plugins/external.js';
import { registry as shippedRegistry } from './plugins/registry.js';
import type { AnyPluginManifest, Clock, PrincipalUser } from './plugins/types.js';
import { randomHex } from './util/secrets.js';

/** The shipped plugins every kit gateway enables unless told otherwise: users, and tokens to authenticate them. */
export const DEFAULT_SHIPPED_PLUGINS: readonly string[] = ['directory', 'tokens'];

const DEFAULT_CLOCK_START = '2026-11-22T10:00:00.000Z';
const NEEDS_TOKEN_PLUGINS = 'createUser needs the shipped plugins directory and tokens enabled';

/** A clock tests move by hand; every plugin of the gateway reads time from it. */
export class TestClock implements Clock {
  private current: number;
  constructor(start: Date | string = DEFAULT_CLOCK_START) {
    this.current = new Date(start).getTime();
  }
  now() {
    return new Date(this.current);
  }
  advance(ms: number) {
    this.current += ms;
  }
  set(to: Date | string) {
    this.current = new Date(to).getTime();
  }
}

/** A response as a test reads it: the body parsed when it is JSON, the raw text either way. */
export interface TestResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface RequestOptions {
  method?: string;
  /** Sent as PRIVATE-TOKEN unless `auth` says otherwise. */
  token?: string;
  auth?: 'private-token' | 'bearer' | 'param';
  /** Sent as JSON. */
  body?: unknown;
  /** Form-encoded body instead of JSON. */
  form?: Record<string, string | string[]>;
  headers?: Record<string, string>;
  /** A raw body string, sent as is (with headers as given). */
  raw?: string;
}

/** Feature flags held in memory: the manifests' defaults, overridden at start and by `set` at any time. */
export type TestFlags = ReturnType<typeof createStaticFlags>;

export interface StartGatewayOptions {
  /** The plugins under test, as their modules default-export them; enabled with the shipped plugins they depend on. */
  plugins?: readonly AnyPluginManifest[];
  /**
   * Config on top of the kit's (deep-merged): plugin slices (`plugins.<name>.<key>`), `db` for another
   * database, `plugins.<name>.module` to load a plugin by module as operators do.
   */
  config?: Record<string, unknown>;
  /** Flag values at start, by name; change them later with `gateway.flags.set(name, value)`. */
  flags?: Record<string, boolean>;
  /**
   * Which shipped plugins to enable besides the dependencies of the plugins under test: `true` for all,
   * a list of names, or by default directory and tokens, so token authentication works.
   */
  shipped?: boolean | readonly string[];
  /** The time every plugin reads; default a TestClock at 2026-11-22T10:00:00Z. */
  clock?: Clock;
  /** The root admin's personal access token (at least 20 characters); default a random one, returned. */
  rootToken?: string;
  /** Where `plugins.<name>.module` paths are resolved from (default: the working directory). */
  cwd?: string;
}

/** A user created for a test, with a personal access token. */
export interface CreatedUser {
  user: PrincipalUser & { email?: string };
  /** The token's plaintext, for `request(path, { token })`. */
  token: string;
}

export interface CreateUserOptions {
  username?: string;
  admin?: boolean;
  /** The token's scopes (default `api`). */
  scopes?: readonly string[];
}

/** A running gateway for one test. */
export interface TestGateway {
  /** `http://127.0.0.1:<port>`; also the gateway's external URL, so pagination links point back at it. */
  url: string;
  /** A personal access token of the root admin, with every scope. */
  rootToken: string;
  flags: TestFlags;
  clock: Clock;
  db: Knex;
  gateway: Gateway;
  /** Each enabled plugin's services, by plugin name. */
  services: Readonly<Record<string, any>>;
  request<T = any>(path: string, options?: RequestOptions): Promise<TestResponse<T>>;
  /** A user with a personal access token (needs the shipped plugins directory and tokens). */
  createUser(options?: CreateUserOptions): Promise<CreatedUser>;
  close(): Promise<void>;
}

/**
 * Boots a gateway with the given plugins, the shipped plugins they depend on and (by default) directory
 * and tokens; migrates an in-memory SQLite database, seeds the root admin and listens on 127.0.0.1.
 * Boot problems (a manifest breaking a loader rule, a config its schema refuses) throw, listing them all.
 */
export async function startGateway(options: StartGatewayOptions = {}): Promise<TestGateway> {
  const rootToken = options.rootToken ?? `glpat-${randomHex(16)}`;
  const clock = options.clock ?? new TestClock();
  const server = await listenOnFreePort();
  const url = serverUrl(server);
  try {
    const base = {
      externalUrl: url,
      rootToken,
      db: { client: 'sqlite3', filename: ':memory:' },
      log: { level: 'silent', requests: false },
    };
    const loaded = await loadKitConfig(options, deepMerge(base, options.config ?? {}));
    const flags = createStaticFlags(
      allFlagsOf(loaded.registry, loaded.config),
      options.flags,
    );
    const gateway = await createGateway({
      config: loaded.config,
      registry: loaded.registry,
      moduleProblems: loaded.moduleProblems,
      clock,
      flags,
      secrets: createMemorySecretStore(),
      logger: pino({ level: loaded.config.log.level }),
    });
    server.on('request', gateway.app.callback());
    return {
      url,
      rootToken,
      flags,
      clock,
      db: gateway.db,
      gateway,
      services: gateway.services,
      request: (path, requestOptions) => send(url, path, requestOptions),
      createUser: (userOptions) => createUser(gateway, userOptions),
      async close() {
        await closeServer(server);
        await gateway.close();
      },
    };
  } catch (error) {
    await closeServer(server);
    throw error;
  }
}

/**
 * Loads config twice when needed: the plugins named by `module` are known only once loaded, and the
 * shipped plugins they depend on must be enabled in the config that is finally validated.
 */
async function loadKitConfig(options: StartGatewayOptions, overrides: Record<string, unknown>): Promise<LoadedConfig> {
  const shipped = [...shippedRegistry, ...(options.plugins ?? [])];
  const load = (layers: Record<string, unknown>) =>
    loadConfigWithPlugins({ shipped, cwd: options.cwd, files: false, env: {}, overrides: layers });
  const probe = await load(overrides);
  const disabled = shippedPluginsToDisable(options, probe.registry, [...(options.plugins ?? []), ...probe.registry.filter((p) => probe.modules.has(p.name))]);
  if (!disabled.length) return probe;
  const disabling = { plugins: Object.fromEntries(disabled.map((name) => [name, { enabled: false }])) };
  return load(deepMerge(disabling, overrides));
}

/** The shipped plugins neither asked for nor needed by the plugins under test (through `dependsOn`, transitively). */
function shippedPluginsToDisable(options: StartGatewayOptions, registry: readonly AnyPluginManifest[], underTest: readonly AnyPluginManifest[]): string[] {
  if (options.shipped === true) return [];
  const byName = new Map(registry.map((plugin) => [plugin.name, plugin]));
  const wanted = new Set<string>(options.shipped === false ? [] : (options.shipped ?? DEFAULT_SHIPPED_PLUGINS));
  const pending = [...underTest.flatMap((plugin) => plugin.dependsOn ?? []), ...wanted];
  while (pending.length) {
    const name = pending.pop()!;
    wanted.add(name);
    for (const dep of byName.get(name)?.dependsOn ?? []) if (!wanted.has(dep)) pending.push(dep);
  }
  return shippedRegistry.map((plugin) => plugin.name).filter((name) => !wanted.has(name));
}

interface UserServices {
  directory?: { users: { create(input: Record<string, unknown>): Promise<PrincipalUser & { email?: string }> } };
  tokens?: { tokens: { create(user: unknown, input: { name: string; scopes: readonly string[] }): Promise<{ plaintext: string }> } };
}

let createdUsers = 0;

async function createUser(gateway: Gateway, options: CreateUserOptions = {}): Promise<CreatedUser> {
  const { directory, tokens } = gateway.services as UserServices;
  if (!directory || !tokens) throw new Error(NEEDS_TOKEN_PLUGINS);
  createdUsers += 1;
  const username = options.username ?? `user${createdUsers}_${randomHex(3)}`;
  const user = await directory.users.create({
    username,
    name: `User ${username}`,
    email: `${username}@example.com`,
    password: `pw-${randomHex(12)}`,
    isAdmin: options.admin ?? false,
  });
  const { plaintext } = await tokens.tokens.create(user, { name: 'test token', scopes: options.scopes ?? ['api'] });
  return { user, token: plaintext };
}

/** A server bound before the gateway exists, so the gateway's external URL can be its real address. */
function listenOnFreePort(): Promise<Server> {
  const server = createGatewayServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

const serverUrl = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

async function closeServer(server: Server) {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

/** One HTTP request; the body is parsed as JSON when the response says it is JSON. */
export async function send<T = any>(baseUrl: string, path: string, options: RequestOptions = {}): Promise<TestResponse<T>> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  let url = `${baseUrl}${path}`;
  if (options.token !== undefined) {
    const mode = options.auth ?? 'private-token';
    if (mode === 'private-token') headers['PRIVATE-TOKEN'] = options.token;
    else if (mode === 'bearer') headers.Authorization = `Bearer ${options.token}`;
    else url += `${url.includes('?') ? '&' : '?'}private_token=${encodeURIComponent(options.token)}`;
  }
  let body: string | undefined = options.raw;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['Content-Type'] ??= 'application/json';
  } else if (options.form) {
    const form = new URLSearchParams();
    for (const [key, value] of Object.entries(options.form)) {
      for (const v of Array.isArray(value) ? value : [value]) form.append(key, v);
    }
    body = form.toString();
    headers['Content-Type'] ??= 'application/x-www-form-urlencoded';
  }
  const response = await fetch(url, { method: options.method ?? 'GET', headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  if ((response.headers.get('content-type') ?? '').includes('application/json') && text) parsed = JSON.parse(text);
  return { status: response.status, headers: response.headers, body: parsed as T, text };
}
