#!/usr/bin/env node
import type { Server } from 'node:http';
import { parseArgs } from 'node:util';
import { ConfigError, formatProblem, loadProcessConfig, type AppConfig, type LoadedConfig } from './config/index.js';
import { createMemorySecretStore, SecretFileError } from './config/secrets.js';
import { createDb, migrateLatest } from './db/index.js';
import { createStaticFlags } from './flags/resolver.js';
import { createGateway, type Gateway } from './gateway.js';
import { trackConnections } from './http/drain.js';
import { createGatewayServer } from './http/response.js';
import { allFlagsOf, enabledPluginNames, flagsOf, PluginLoadError, resolveEnabledPlugins, routesOf } from './plugins/loader.js';
import { createLogger } from './ops/observability.js';
import { ApiError } from './errors.js';
import type { AnyPluginManifest } from './plugins/types.js';

const USAGE = `usage: gatehouse <command>

  start                      migrate (when db.migrateOnBoot), bootstrap and serve
  migrate                    run pending migrations of the enabled plugins
  config check               validate configuration; print every problem with its key path
  plugins list               every plugin, enabled or not, with its routes, strategies and flags
  openapi                    print the OpenAPI 3.1 document of the enabled plugins' routes (JSON)
  admin create-user --username U --email E --name N [--password P] [--admin]
  admin create-token --username U --name N --scopes api,read_user [--expires-at YYYY-MM-DD]
`;

/** Prints to stdout: operator-facing output, not logs. */
const say = (line: string) => process.stdout.write(`${line}\n`);
const fail = (message: string, code = 1): never => {
  process.stderr.write(`${message}\n`);
  process.exit(code);
};

async function configOrExit(): Promise<LoadedConfig> {
  try {
    return await loadProcessConfig();
  } catch (error) {
    if (error instanceof ConfigError) fail(`gatehouse: invalid configuration\n${error.problems.map(formatProblem).join('\n')}`, 2);
    throw error;
  }
}

async function bootOrExit(
  { config, registry, moduleProblems }: LoadedConfig,
  overrides: Partial<Parameters<typeof createGateway>[0]> = {},
): Promise<Gateway> {
  try {
    return await createGateway({ config, registry, moduleProblems, ...overrides });
  } catch (error) {
    if (error instanceof PluginLoadError || error instanceof SecretFileError) fail(`gatehouse: ${error.message}`, 2);
    throw error;
  }
}

async function start() {
  const loaded = await configOrExit();
  const { config } = loaded;
  const gateway = await bootOrExit(loaded);
  for (const notice of gateway.notices) say(`gatehouse: ${notice}`);
  const server: Server = createGatewayServer(gateway.app.callback());
  server.keepAliveTimeout = 65_000;
  const connections = trackConnections(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.server.port, config.server.host, () => resolve());
  });
  say(`gatehouse listening on ${config.externalUrl}`);
  gateway.logger.info({ host: config.server.host, port: config.server.port, plugins: gateway.plugins.map((p) => p.name) }, 'listening');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    gateway.logger.info({ signal }, 'draining');
    gateway.drain();
    const { clean, cut } = await connections.drain({ timeoutMs: config.server.shutdownTimeoutMs });
    if (!clean) gateway.logger.warn({ cut, timeoutMs: config.server.shutdownTimeoutMs }, 'shutdown timeout: open connections cut');
    await gateway.close();
    gateway.logger.flush?.();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/** The enabled plugins in load order, or exit listing every problem, as `start` would. */
function enabledPluginsOrExit({ config, registry, moduleProblems }: LoadedConfig) {
  try {
    return resolveEnabledPlugins(registry, config, moduleProblems);
  } catch (error) {
    if (error instanceof PluginLoadError) fail(`gatehouse: ${error.message}`, 2);
    throw error;
  }
}

async function migrate() {
  const loaded = await configOrExit();
  const plugins = enabledPluginsOrExit(loaded);
  const db = createDb(loaded.config);
  try {
    const ran = await migrateLatest(db, plugins);
    say(ran.length ? `applied ${ran.length} migration(s):\n${ran.map((m) => `  ${m}`).join('\n')}` : 'database is up to date');
  } finally {
    await db.destroy();
  }
}

async function configCheck() {
  enabledPluginsOrExit(await configOrExit());
  say('configuration OK');
}

async function pluginsList() {
  const { config, registry, moduleProblems, modules } = await configOrExit();
  const enabled = enabledPluginNames(config);
  for (const plugin of registry) {
    say(`${plugin.name} ${plugin.version} — ${enabled.has(plugin.name) ? 'enabled' : 'disabled'}`);
    say(`  ${plugin.description}`);
    if (modules.has(plugin.name)) say(`  module: ${modules.get(plugin.name)}`);
    if (plugin.dependsOn?.length) say(`  depends on: ${plugin.dependsOn.join(', ')}`);
    const strategies = Object.keys(plugin.authStrategies ?? {});
    if (strategies.length) say(`  provides auth strategies: ${strategies.join(', ')}`);
    for (const flag of flagsOf(plugin, config.plugins[plugin.name])) say(`  flag ${flag.name} (${flag.kind}, default ${flag.default ? 'on' : 'off'}): ${flag.description}`);
    for (const line of routeLines(plugin, config.plugins[plugin.name])) say(line);
  }
  for (const problem of moduleProblems) {
    say(`${problem.plugin} — module not loaded${enabled.has(problem.plugin) ? '' : ' (disabled)'}`);
    say(`  ${problem.message}`);
  }
}

/** One line per route of a plugin; a routes function that fails on the plugin's config is said instead. */
function routeLines(plugin: AnyPluginManifest, pluginConfig: unknown): string[] {
  let routes: ReturnType<typeof routesOf>;
  try {
    routes = routesOf(plugin, pluginConfig);
  } catch (error) {
    return [`  routes: cannot be listed, its routes function failed: ${(error as Error)?.message ?? String(error)}`];
  }
  return routes.map((route) => {
    const scopes = 'scopes' in route.auth && route.auth.scopes?.length ? ` [${route.auth.scopes.join(' ')}]` : '';
    return `  ${route.method.padEnd(6)} ${route.path}  ${route.name}  auth=${route.auth.strategy}${scopes}${route.flag ? ` flag=${route.flag}` : ''}`;
  });
}

/**
 * Prints the OpenAPI document `/-/openapi.json` serves for this configuration. The gateway boots on a
 * throwaway in-memory database, secrets and flags: describing the API touches neither the data
 * directory nor the configured database, Redis or Unleash.
 */
async function printOpenApi() {
  const loaded = await configOrExit();
  const { config } = loaded;
  const throwaway: AppConfig = {
    ...config,
    db: { ...config.db, client: 'sqlite3', filename: ':memory:', url: undefined },
    redis: { ...config.redis, url: undefined },
  };
  const gateway = await bootOrExit({ ...loaded, config: throwaway }, {
    logger: createLogger('silent'),
    secrets: createMemorySecretStore(),
    flags: createStaticFlags(allFlagsOf(loaded.registry, config)),
  });
  try {
    say(JSON.stringify(gateway.openapi, null, 2));
  } finally {
    await gateway.close();
  }
}

/** Admin commands run against the database directly, with the same services the API uses. */
async function admin(action: string | undefined, args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      username: { type: 'string' },
      email: { type: 'string' },
      name: { type: 'string' },
      password: { type: 'string' },
      admin: { type: 'boolean', default: false },
      scopes: { type: 'string' },
      'expires-at': { type: 'string' },
    },
  });
  const gateway = await bootOrExit(await configOrExit(), { logger: createLogger('warn') });
  const directory = gateway.services.directory as { users: any } | undefined;
  const tokens = gateway.services.tokens as { tokens: any } | undefined;
  try {
    if (!directory || !tokens) fail('gatehouse: admin commands need the directory and tokens plugins enabled');
    for (const notice of gateway.notices) say(`gatehouse: ${notice}`);
    if (action === 'create-user') {
      if (!values.username || !values.email || !values.name) fail(USAGE);
      const user = await directory!.users.create({
        username: values.username!,
        email: values.email!,
        name: values.name!,
        password: values.password,
        isAdmin: values.admin,
      });
      say(`created user ${user.username} (id ${user.id}${user.isAdmin ? ', admin' : ''})`);
    } else if (action === 'create-token') {
      if (!values.username || !values.name || !values.scopes) fail(USAGE);
      const user = await directory!.users.findByUsername(values.username!);
      if (!user) fail(`gatehouse: no user ${values.username}`);
      const { token, plaintext } = await tokens!.tokens.create(user, {
        name: values.name!,
        scopes: values.scopes!.split(',').map((s: string) => s.trim()).filter(Boolean),
        expiresAt: values['expires-at'],
      });
      say(`created token ${token.id} for ${user.username} (expires ${token.expiresAt ?? 'never'}); shown once:\n${plaintext}`);
    } else {
      fail(USAGE);
    }
  } catch (error) {
    if (error instanceof ApiError) fail(`gatehouse: ${JSON.stringify(error.body)}`);
    if (tokens?.tokens.isModelError(error)) fail(`gatehouse: ${(error as Error).message}`);
    throw error;
  } finally {
    await gateway.close();
  }
}

async function main(argv: string[]) {
  const [command, sub, ...rest] = argv;
  switch (command) {
    case 'start':
      return start();
    case 'migrate':
      return migrate();
    case 'config':
      if (sub === 'check') return configCheck();
      break;
    case 'plugins':
      if (sub === 'list') return pluginsList();
      break;
    case 'openapi':
      return printOpenApi();
    case 'admin':
      return admin(sub, rest);
    case undefined:
    case 'help':
    case '--help':
      say(USAGE);
      return;
  }
  fail(USAGE, 2);
}

// `gatehouse plugins list | head`: a closed pipe ends the output, not the process with a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

main(process.argv.slice(2)).catch((error) => {
  process.stderr.write(`gatehouse: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
