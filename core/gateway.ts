import type Koa from 'koa';
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import type { DestinationStream, Logger } from 'pino';
import { createApp, type BoundRoute } from './app.js';
import type { AppConfig } from './config/schema.js';
import { checkingSecretStore, createSecretStore, type SecretStore } from './config/secrets.js';
import { createDb, migrateLatest } from './db/index.js';
import { createFlagResolver, type ManagedFlagResolver } from './flags/resolver.js';
import { createInvalidationBus } from './ops/bus.js';
import { createLoggers, createMetrics, type Metrics } from './ops/observability.js';
import { coreRoutes } from './ops/routes.js';
import { allFlagsOf, resolveEnabledPlugins, routesOf, type ModuleProblem } from './plugins/loader.js';
import { buildOpenApiDocument, type OpenApiDocument } from './plugins/openapi.js';
import type { AnyPluginManifest, AuthStrategy, Clock, GatehouseState, RouteDefinition, VersionInfo } from './plugins/types.js';
import { registry as defaultRegistry } from './plugins/registry.js';
import { createDiscovery } from './signing/discovery.js';
import { loadInstanceKeys, type InstanceKeys } from './signing/instance-keys.js';
import { createRateLimiterFactory } from './rate-limit/index.js';
import { PRODUCT_VERSION } from './version.js';
import { createUpstreams } from './upstream/index.js';

export interface GatewayOptions {
  config: AppConfig;
  /** The plugins config may enable: the shipped ones, plus those loaded from `plugins.<name>.module`. */
  registry?: readonly AnyPluginManifest[];
  /** Why some `module` entries could not be used (see `loadConfigWithPlugins`); listed with the loader's problems. */
  moduleProblems?: readonly ModuleProblem[];
  logger?: Logger;
  /** Where the gateway's own loggers write (default: standard output through pino's worker thread). */
  logDestination?: DestinationStream;
  clock?: Clock;
  /** Inject a flag resolver (tests use static flags); otherwise unleash-client is built from config. */
  flags?: ManagedFlagResolver;
  secrets?: SecretStore;
  /** Working directory for relative files (the offline flag file). */
  cwd?: string;
  version?: VersionInfo;
}

/** A booted gateway: the Koa app plus everything it holds, and how to close it. */
export interface Gateway {
  app: Koa<GatehouseState>;
  config: AppConfig;
  db: Knex;
  redis?: Redis;
  logger: Logger;
  metrics: Metrics;
  flags: ManagedFlagResolver;
  plugins: readonly AnyPluginManifest[];
  /** Each enabled plugin's services, by plugin name. */
  services: Readonly<Record<string, unknown>>;
  /** The instance key every plugin signs with, as `/oauth/discovery/keys` publishes it. */
  instanceKeys: InstanceKeys;
  /** Lines the operator must see once (e.g. a generated root token); printed by the CLI, never logged. */
  notices: readonly string[];
  /** The OpenAPI document of every route this gateway serves (`/-/openapi.json` when enabled), built on first use. */
  readonly openapi: OpenApiDocument;
  /** Marks the gateway as draining: readiness fails from now on. */
  drain(): void;
  close(): Promise<void>;
}

export const systemClock: Clock = { now: () => new Date() };

const SIGNING_KEY_UNUSABLE = 'the instance signing key could not be loaded (see signing.keyFile)';

/**
 * Stands in for the instance keys when their file is bad, so the plugins' own secret files are still
 * checked and listed with it; boot then fails before anything could sign.
 */
function unusableInstanceKeys(): InstanceKeys {
  const refuse = (): never => {
    throw new Error(SIGNING_KEY_UNUSABLE);
  };
  return {
    get currentPem() {
      return refuse();
    },
    get currentKid() {
      return refuse();
    },
    get published() {
      return refuse();
    },
    jwks: refuse,
    sign: async () => refuse(),
  };
}

/** How long boot waits for the first Redis connection when Redis neither answers nor refuses. */
const REDIS_CONNECT_GRACE_MS = 2_000;

/**
 * Connects ioredis so that an outage fails fast instead of queueing requests for tens of seconds.
 * Without the offline queue, commands sent before the first connection fail, so rate limits would let
 * the first requests through uncounted: wait for that connection, but only until it first fails or
 * the grace period ends — a Redis outage must not hold boot (`redis.failOpen` decides what happens).
 * ioredis is imported only when Redis is configured: the embedded default never loads it.
 */
async function connectRedis(url: string, logger: Logger): Promise<Redis> {
  const { Redis: RedisClient } = await import('ioredis');
  const redis = new RedisClient(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
  redis.on('error', (error) => logger.warn({ err: error }, 'redis error'));
  await new Promise<void>((done) => {
    const settle = () => {
      clearTimeout(timer);
      redis.off('ready', settle);
      redis.off('error', settle);
      done();
    };
    const timer = setTimeout(settle, REDIS_CONNECT_GRACE_MS);
    redis.once('ready', settle);
    redis.once('error', settle);
  });
  return redis;
}

/**
 * Boots the gateway: resolve plugins (aborting with every problem listed), open the database, migrate,
 * start flags, build each plugin's services in dependency order, then its strategies, bootstrap hooks
 * and the app. Does not listen.
 */
export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const { config } = options;
  const registry = options.registry ?? defaultRegistry;
  const plugins = resolveEnabledPlugins(registry, config, options.moduleProblems);
  const loggers = options.logger
    ? { logger: options.logger, requestLogger: options.logger, close() {} }
    : createLoggers(config.log.level, { destination: options.logDestination });
  const { logger } = loggers;
  const clock = options.clock ?? systemClock;
  const secrets = options.secrets ?? createSecretStore(config.dataDir);
  const version = options.version ?? PRODUCT_VERSION;
  // Closed last (closers run in reverse): whatever the others log on the way out is written.
  const closers: Array<() => Promise<void> | void> = [() => loggers.close()];
  const closeAll = async () => {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (error) {
        logger.warn({ err: error }, 'error while closing');
      }
    }
  };

  try {
    const db = createDb(config, logger);
    closers.push(() => db.destroy());
    if (config.db.migrateOnBoot) {
      const ran = await migrateLatest(db, plugins);
      if (ran.length) logger.info({ migrations: ran }, 'migrations applied');
    }
    const redis = config.redis.url ? await connectRedis(config.redis.url, logger) : undefined;
    if (redis) closers.push(() => void redis.disconnect());

    const flagDefinitions = allFlagsOf(plugins, config);
    const flags = options.flags ?? (await createFlagResolver({ config: config.unleash, flags: flagDefinitions, logger, cwd: options.cwd }));
    closers.push(() => flags.close());
    const bus = createInvalidationBus({ redis, keyPrefix: config.redis.keyPrefix, logger });
    closers.push(() => bus.close());

    // Created before the plugins' services: plugins register their own metrics on the same registry.
    const metrics = createMetrics();
    const upstreams = createUpstreams({ registry: metrics.registry, logger });
    closers.push(() => upstreams.close());
    const services: Record<string, unknown> = {};
    const checkedSecrets = checkingSecretStore(secrets);
    let instanceKeys: InstanceKeys;
    try {
      instanceKeys = loadInstanceKeys(checkedSecrets.forCore('signing'), config.signing.keyFile, config.signing.previousKeyFiles);
    } catch (error) {
      if (!checkedSecrets.problems.length) throw error;
      instanceKeys = unusableInstanceKeys();
    }
    const instanceKeysUsable = !checkedSecrets.problems.length;
    const discovery = createDiscovery(config.externalUrl);
    // Plugins that could not start because of a bad secret file: their dependants are skipped, and the
    // other plugins' files are still checked, so the operator sees every bad file at once.
    const stopped = new Set<string>();
    for (const plugin of plugins) {
      if (plugin.dependsOn?.some((dep: string) => stopped.has(dep))) {
        stopped.add(plugin.name);
        continue;
      }
      const pluginDeps = Object.fromEntries((plugin.dependsOn ?? []).map((dep: string) => [dep, services[dep]]));
      const problemsBefore = checkedSecrets.problems.length;
      try {
        services[plugin.name] = plugin.services
          ? await plugin.services({
              config: config.plugins[plugin.name],
              app: {
                externalUrl: config.externalUrl,
                dataDir: config.dataDir,
                rootToken: config.rootToken,
                version,
                redisKeyPrefix: config.redis.keyPrefix,
              },
              db,
              flags,
              logger: logger.child({ plugin: plugin.name }),
              clock,
              secrets: checkedSecrets.forPlugin(plugin.name),
              bus,
              redis,
              metrics: metrics.registry,
              upstreams,
              instanceKeys,
              discovery: { extend: discovery.extend },
              plugins: pluginDeps as never,
            })
          : {};
      } catch (error) {
        // Without a usable instance key, a plugin may fail for want of it: that key's problem is listed.
        if (checkedSecrets.problems.length === problemsBefore && instanceKeysUsable) throw error;
        stopped.add(plugin.name);
        continue;
      }
      if (plugin.close) closers.push(() => plugin.close!(services[plugin.name]));
    }
    checkedSecrets.throwIfAny();

    const strategies = new Map<string, AuthStrategy>();
    strategies.set('none', { authenticate: () => ({ kind: 'anonymous' }) });
    for (const plugin of plugins) {
      for (const [name, factory] of Object.entries(plugin.authStrategies ?? {})) strategies.set(name, factory(services[plugin.name]));
    }

    const notices: string[] = [];
    for (const plugin of plugins) {
      const result = await plugin.bootstrap?.(services[plugin.name]);
      if (result) notices.push(...result.notices);
    }

    let draining = false;
    const routes: BoundRoute[] = plugins.flatMap((plugin) =>
      routesOf(plugin, config.plugins[plugin.name]).map((route) => ({ plugin: plugin.name, route, services: services[plugin.name] })),
    );
    // Built on first use, not at boot (it costs tens of milliseconds, every boot would pay them); the
    // document lists the route that serves it.
    let openapi: OpenApiDocument | undefined;
    let openapiJson: string | undefined;
    const openapiDocument = (): OpenApiDocument =>
      (openapi ??= buildOpenApiDocument({
        plugins,
        routes: [...operations.map((route) => ({ plugin: 'core', route })), ...routes],
        pluginConfig: config.plugins,
        externalUrl: config.externalUrl,
        version,
        strategies,
      }));
    const operations = coreRoutes({
      db,
      redis,
      metrics,
      flagsSynced: () => flags.synced(),
      invalidation: () => bus.status(),
      draining: () => draining,
      upstreams: () => upstreams.status(),
      monitoringIpAllowlist: config.monitoring.ipAllowlist,
      keys: instanceKeys,
      discovery: discovery.document,
      openapi: config.openapi.enabled ? () => (openapiJson ??= JSON.stringify(openapiDocument())) : undefined,
    });
    const app = createApp({
      config,
      logger,
      requestLogger: loggers.requestLogger,
      requestLines: 'requestLines' in loggers ? loggers.requestLines : undefined,
      metrics,
      flags,
      strategies,
      rateLimiterFor: createRateLimiterFactory({ redis, keyPrefix: config.redis.keyPrefix, failOpen: config.redis.failOpen, logger }),
      routes,
      operations,
    });

    return {
      app,
      config,
      db,
      redis,
      logger,
      metrics,
      flags,
      plugins,
      services,
      instanceKeys,
      notices,
      get openapi() {
        return openapiDocument();
      },
      drain: () => void (draining = true),
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
