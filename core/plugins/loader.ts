import type { AnyPluginManifest, FlagDefinition, RouteDefinition } from './types.js';
import type { AppConfig } from '../config/schema.js';

/** The core's own version; plugins declare which core versions they work with. */
export const CORE_VERSION = '1.0.0';

const PLUGIN_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const FLAG_NAME = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;

export class PluginLoadError extends Error {
  constructor(readonly problems: string[]) {
    super(`cannot load plugins:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PluginLoadError';
  }
}

/** `^1.2.0` / `~1.2.0` / `1.2.0` against a version: same major, and not older. Enough for core ranges. */
export function satisfiesCoreRange(range: string, version: string): boolean {
  const match = /^[\^~]?(\d+)\.(\d+)\.(\d+)$/.exec(range.trim());
  if (!match) return false;
  const [major, minor, patch] = version.split('.').map(Number);
  const [rMajor, rMinor, rPatch] = match.slice(1).map(Number);
  if (major !== rMajor) return false;
  if (range.startsWith('~') && minor !== rMinor) return false;
  return minor > rMinor || (minor === rMinor && patch >= rPatch);
}

/** Why a plugin named by `plugins.<name>.module` could not be used (reported only when it is enabled). */
export interface ModuleProblem {
  plugin: string;
  message: string;
}

const describeRoute = (plugin: string, route: RouteDefinition<unknown>) =>
  `route ${route.name} (${route.method} ${route.path}) of plugin ${plugin}`;

const ROUTES_FAILED = (plugin: string, reason: string) => `plugin ${plugin}: its routes function failed on its config: ${reason}`;

/**
 * A plugin's routes: its array, or what its routes function makes of its validated config slice. Every
 * reader of a manifest's routes (the loader, the gateway, `plugins list`, the OpenAPI document) goes
 * through here, so a plugin whose routes come from config is seen the same everywhere.
 */
export function routesOf(plugin: AnyPluginManifest, pluginConfig: unknown): readonly RouteDefinition<any, any>[] {
  const { routes } = plugin;
  return typeof routes === 'function' ? routes(pluginConfig as never) : (routes ?? []);
}

/**
 * Thrown by a routes function whose config is wrong in ways the config schema cannot tell (a
 * malformed URL, overlapping paths): every problem, and the routes that could still be made.
 */
export class RouteProblems extends Error {
  constructor(
    readonly problems: readonly string[],
    readonly routes: readonly RouteDefinition<any, any>[] = [],
  ) {
    super(problems.join('; '));
  }
}

/** A plugin's flags, from its manifest or made from its config slice (as routes are). */
export function flagsOf(plugin: AnyPluginManifest, pluginConfig: unknown): readonly FlagDefinition[] {
  const declared = plugin.flags ?? [];
  if (!plugin.configFlags) return declared;
  try {
    return [...declared, ...plugin.configFlags(pluginConfig as never)];
  } catch {
    // The routes function reports what is wrong with this config; a flags function failing on it adds none.
    return declared;
  }
}

/** The flags of every plugin of `registry` under `config` (static flag resolvers, the offline file). */
export const allFlagsOf = (registry: readonly AnyPluginManifest[], config: Pick<AppConfig, 'plugins'>) =>
  registry.flatMap((plugin) => flagsOf(plugin, config.plugins[plugin.name]));

/**
 * The fixed part of a path that matches everything below it (`/reports{/*rest}` → `/reports`), or
 * undefined for other paths.
 */
const prefixOf = (path: string) => {
  const match = /^([^:*{(]*?)\/?\{\/\*[A-Za-z0-9_]+\}$/.exec(path);
  return match ? match[1] : undefined;
};

/** The routes of a plugin, or none and a problem when its routes function throws: boot lists it with the rest. */
function routesOrProblem(plugin: AnyPluginManifest, pluginConfig: unknown, problems: string[]): readonly RouteDefinition<any, any>[] {
  try {
    return routesOf(plugin, pluginConfig);
  } catch (error) {
    // A routes function may name several problems at once and still hand over the routes it could
    // make, so they are checked too and boot lists everything wrong with the config together.
    const listed = error instanceof RouteProblems ? error : undefined;
    if (listed) problems.push(...listed.problems.map((problem) => `plugin ${plugin.name}: ${problem}`));
    else problems.push(ROUTES_FAILED(plugin.name, (error as Error)?.message ?? String(error)));
    return listed?.routes ?? [];
  }
}

/**
 * Checks the enabled plugins against every rule of the loader and returns them in dependency order.
 * Problems are collected, never logged and skipped: one bad manifest aborts boot with the full list,
 * which starts with the problems of the enabled plugins whose module could not be used.
 * `pluginConfig` holds each plugin's validated config slice, which routes functions are called with.
 */
export function resolvePlugins(
  registry: readonly AnyPluginManifest[],
  enabledNames: ReadonlySet<string>,
  moduleProblems: readonly ModuleProblem[] = [],
  pluginConfig: Readonly<Record<string, unknown>> = {},
): AnyPluginManifest[] {
  const byName = new Map(registry.map((p) => [p.name, p]));
  const enabled = registry.filter((p) => enabledNames.has(p.name));
  const relevantModuleProblems = moduleProblems.filter((problem) => enabledNames.has(problem.plugin));
  const problems = relevantModuleProblems.map((problem) => problem.message);
  const unloaded = new Set(relevantModuleProblems.map((problem) => problem.plugin));

  for (const name of enabledNames) if (!byName.has(name) && !unloaded.has(name)) problems.push(`unknown plugin "${name}"`);

  const strategies = new Map<string, string>([['none', 'core']]);
  const allStrategies = new Map<string, string>();
  const flags = new Map<string, FlagDefinition & { plugin: string }>();
  for (const plugin of registry) {
    for (const name of Object.keys(plugin.authStrategies ?? {})) allStrategies.set(name, plugin.name);
  }
  const routesByPlugin = new Map(enabled.map((plugin) => [plugin.name, routesOrProblem(plugin, pluginConfig[plugin.name], problems)]));
  for (const plugin of enabled) {
    problems.push(...manifestProblems(plugin, routesByPlugin.get(plugin.name)!, flagsOf(plugin, pluginConfig[plugin.name])));
    for (const dep of plugin.dependsOn ?? []) {
      if (unloaded.has(dep) && !byName.has(dep)) problems.push(`plugin ${plugin.name} depends on ${dep}, whose module could not be loaded`);
      else if (!byName.has(dep)) problems.push(`plugin ${plugin.name} depends on unknown plugin "${dep}"`);
      else if (!enabledNames.has(dep)) problems.push(`plugin ${plugin.name} depends on ${dep}, which is disabled`);
    }
    for (const name of Object.keys(plugin.authStrategies ?? {})) {
      const owner = strategies.get(name);
      if (owner) problems.push(`auth strategy "${name}" is provided by both ${owner} and ${plugin.name}`);
      else strategies.set(name, plugin.name);
    }
    for (const flag of flagsOf(plugin, pluginConfig[plugin.name])) {
      const owner = flags.get(flag.name);
      if (owner) problems.push(`flag "${flag.name}" is declared by both ${owner.plugin} and ${plugin.name}`);
      else flags.set(flag.name, { ...flag, plugin: plugin.name });
    }
  }

  const routeKeys = new Map<string, string>();
  const routeNames = new Set<string>();
  for (const plugin of enabled) {
    for (const route of routesByPlugin.get(plugin.name)!) {
      const where = describeRoute(plugin.name, route);
      if (!strategies.has(route.auth.strategy)) {
        const provider = allStrategies.get(route.auth.strategy);
        problems.push(
          provider
            ? `${where} uses auth strategy "${route.auth.strategy}", provided by plugin ${provider}, which is disabled`
            : `${where} uses unknown auth strategy "${route.auth.strategy}"`,
        );
      }
      if (route.flag && !flags.has(route.flag)) problems.push(`${where} uses undeclared flag "${route.flag}"`);
      const key = `${route.method} ${normalisePath(route.path)}`;
      const existing = routeKeys.get(key);
      if (existing) problems.push(`duplicate route ${route.method} ${route.path}: ${existing} and ${route.name}`);
      else routeKeys.set(key, route.name);
      if (routeNames.has(route.name)) problems.push(`duplicate route name ${route.name}`);
      routeNames.add(route.name);
    }
  }
  // A route matching a whole prefix shadows or is shadowed by any other plugin's route under it.
  const everyRoute = enabled.flatMap((plugin) => routesByPlugin.get(plugin.name)!.map((route) => ({ plugin: plugin.name, route })));
  for (const prefixed of everyRoute) {
    const prefix = prefixOf(prefixed.route.path);
    if (prefix === undefined) continue;
    for (const other of everyRoute) {
      if (other.plugin === prefixed.plugin || other.route.method !== prefixed.route.method) continue;
      const path = other.route.path;
      if (path === prefix || path.startsWith(`${prefix}/`) || path.startsWith(`${prefix}{`)) {
        problems.push(`route ${prefixed.route.name} (${prefixed.route.method} ${prefix} and below) collides with ${other.route.name} (${other.route.method} ${path})`);
      }
    }
  }

  const ordered = topologicalOrder(enabled, problems);
  if (problems.length) throw new PluginLoadError(problems);
  return ordered;
}

/**
 * The enabled plugins and their validated config slices from the app's config: what `resolvePlugins`
 * needs at boot, in `config check`, `migrate` and the knexfile.
 */
export function resolveEnabledPlugins(
  registry: readonly AnyPluginManifest[],
  config: Pick<AppConfig, 'plugins'>,
  moduleProblems: readonly ModuleProblem[] = [],
): AnyPluginManifest[] {
  return resolvePlugins(registry, enabledPluginNames(config), moduleProblems, config.plugins);
}

/**
 * Rules that hold for a manifest on its own (also run over every registered plugin by the lint test),
 * with its routes made from `pluginConfig` when they come from config.
 */
export function lintManifest(plugin: AnyPluginManifest, pluginConfig?: unknown): string[] {
  const problems: string[] = [];
  const routes = routesOrProblem(plugin, pluginConfig, problems);
  return [...problems, ...manifestProblems(plugin, routes, flagsOf(plugin, pluginConfig))];
}

function manifestProblems(plugin: AnyPluginManifest, routes: readonly RouteDefinition<any, any>[], flags: readonly FlagDefinition[]): string[] {
  const problems: string[] = [];
  const at = `plugin ${plugin.name}`;
  if (!PLUGIN_NAME.test(plugin.name)) problems.push(`${at}: name must be kebab-case`);
  if (!satisfiesCoreRange(plugin.core, CORE_VERSION)) {
    problems.push(`${at}: needs core ${plugin.core}, this core is ${CORE_VERSION}`);
  }
  if (!plugin.description?.trim()) problems.push(`${at}: description is empty`);
  for (const flag of flags) {
    if (!FLAG_NAME.test(flag.name)) problems.push(`${at}: flag "${flag.name}" must be snake_case`);
    if (!flag.description?.trim()) problems.push(`${at}: flag "${flag.name}" has no description`);
  }
  for (const name of Object.keys(plugin.migrations ?? {})) {
    if (!/^\d{14}_[a-z0-9_]+$/.test(name)) problems.push(`${at}: migration "${name}" must be named <14-digit timestamp>_<snake_case>`);
  }
  for (const [key, field] of Object.entries(plugin.config?.shape ?? {})) {
    if (!(field as { description?: string }).description) problems.push(`${at}: config key "${key}" has no description`);
  }
  for (const route of routes) {
    const where = describeRoute(plugin.name, route);
    if (!route.name.startsWith(`${plugin.name}.`)) problems.push(`${where}: name must start with "${plugin.name}."`);
    if (!route.auth?.strategy) problems.push(`${where}: no auth strategy`);
    if (route.auth?.strategy === 'none' && !route.auth.reason?.trim()) problems.push(`${where}: public route without a reason`);
    if (!route.path.startsWith('/')) problems.push(`${where}: path must start with /`);
  }
  return problems;
}

/** `/users/:user_id/x` and `/users/:id/x` are the same route to a router. */
const normalisePath = (path: string) => path.replace(/:[A-Za-z0-9_]+/g, ':param');

function topologicalOrder(plugins: AnyPluginManifest[], problems: string[]): AnyPluginManifest[] {
  const byName = new Map(plugins.map((p) => [p.name, p]));
  const ordered: AnyPluginManifest[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (plugin: AnyPluginManifest, trail: string[]) => {
    const seen = state.get(plugin.name);
    if (seen === 'done') return;
    if (seen === 'visiting') {
      problems.push(`dependency cycle: ${[...trail, plugin.name].join(' → ')}`);
      return;
    }
    state.set(plugin.name, 'visiting');
    for (const dep of plugin.dependsOn ?? []) {
      const target = byName.get(dep);
      if (target) visit(target, [...trail, plugin.name]);
    }
    state.set(plugin.name, 'done');
    ordered.push(plugin);
  };
  for (const plugin of plugins) visit(plugin, []);
  return ordered;
}

/** The names of the plugins switched on in config. */
export const enabledPluginNames = (config: Pick<AppConfig, 'plugins'>) =>
  new Set(Object.entries(config.plugins).filter(([, slice]) => slice.enabled).map(([name]) => name));
