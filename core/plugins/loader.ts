import type { AnyPluginManifest, FlagDefinition, RouteDefinition } from './types.js';
import type { AppConfig } from '../config/schema.js';
import { coreRoutes } from '../ops/routes.js';

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

/** `a`, `a and b`, `a, b and c`. */
const listed = (items: readonly string[]) => (items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`);

/** Routes of one plugin at one path, named together in a problem they share. */
const describeRoutes = (plugin: string, routes: readonly RouteDefinition<unknown>[]) =>
  routes.length === 1
    ? describeRoute(plugin, routes[0])
    : `routes ${listed(routes.map((route) => route.name))} (${listed(routes.map((route) => route.method))} ${routes[0].path}) of plugin ${plugin}`;

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
 * The part of a path before what matches everything below it (`/reports{/*rest}` → `/reports`,
 * `/users/:id/files{/*rest}` → `/users/:id/files`), or undefined for other paths.
 */
const prefixOf = (path: string) => {
  const match = /^([^*{(]*?)\/?\{\/\*[A-Za-z0-9_]+\}$/.exec(path);
  return match ? match[1] : undefined;
};

/** A segment matching any one segment of a request path. */
const ANY_SEGMENT = Symbol('any segment');

/**
 * The request paths a route path (without optional groups) matches: segment by segment, a literal
 * that must be equal or any one segment, and, when `below`, every path under those too.
 */
interface PathShape {
  segments: ReadonlyArray<string | typeof ANY_SEGMENT>;
  below: boolean;
}

/** The router's (path-to-regexp's) syntax: a literal segment has none of it. */
const ROUTER_SYNTAX = /[:*?+!(){}[\]\\]/;

/**
 * The path read once with each optional group kept and once without it (`/a{/*rest}` → `/a/*rest`,
 * `/a`; `/:id{.:format}` → `/:id.:format`, `/:id`), so that what is left splits into segments.
 */
function withoutGroups(path: string): string[] {
  const open = path.search(/(?<!\\)\{/);
  if (open === -1) return [path];
  let depth = 0;
  for (let index = open; index < path.length; index++) {
    if (path[index] === '\\') index += 1;
    else if (path[index] === '{') depth += 1;
    else if (path[index] === '}' && --depth === 0) {
      const [before, inside, after] = [path.slice(0, open), path.slice(open + 1, index), path.slice(index + 1)];
      return [...withoutGroups(before + inside + after), ...withoutGroups(before + after)];
    }
  }
  // An unclosed group, which the router refuses anyway: the brace is left in its segment, read as syntax.
  return [path];
}

/**
 * The shapes of a route path. A segment with syntax matches any one segment: exact for a `:param`,
 * and a safe over-estimate for a parameter within text (`:id.json`); a wildcard (`*rest`) also
 * matches everything under its segment, and what follows it is not read. A trailing slash is ignored,
 * as the router does.
 */
function shapesOf(path: string): PathShape[] {
  return withoutGroups(path).map((reading) => {
    const segments: Array<string | typeof ANY_SEGMENT> = [];
    for (const segment of reading.replace(/\/$/, '').split('/').slice(1)) {
      if (segment.includes('*')) return { segments: [...segments, ANY_SEGMENT], below: true };
      segments.push(ROUTER_SYNTAX.test(segment) ? ANY_SEGMENT : segment);
    }
    return { segments, below: false };
  });
}

/** Whether some request path matches both shapes. */
function shapesOverlap(a: PathShape, b: PathShape): boolean {
  const shared = Math.min(a.segments.length, b.segments.length);
  for (let index = 0; index < shared; index++) {
    const [mine, theirs] = [a.segments[index], b.segments[index]];
    if (mine !== ANY_SEGMENT && theirs !== ANY_SEGMENT && mine !== theirs) return false;
  }
  if (a.segments.length === b.segments.length) return true;
  return (a.segments.length < b.segments.length ? a : b).below;
}

/** Whether some request path matches both route paths. */
const pathsOverlap = (a: string, b: string) => shapesOf(a).some((mine) => shapesOf(b).some((theirs) => shapesOverlap(mine, theirs)));

/** A path as the collision problem names it: a prefix route as its prefix and everything below it. */
const describeMatched = (path: string) => {
  const prefix = prefixOf(path);
  return prefix === undefined ? path : `${prefix} and below`;
};

/**
 * Core's own routes (health, readiness, metrics, the JWKS and discovery document and, when enabled, the OpenAPI document), served with
 * the plugins' by core/gateway.ts: a plugin route matching one of their requests would shadow it or be
 * shadowed. Only their methods, paths and names are read here; their handlers never run, so they are
 * made without dependencies.
 */
export function coreRoutesOf(config: Pick<AppConfig, 'openapi'>): RouteDefinition<unknown>[] {
  const neverUsed = undefined as never;
  return coreRoutes({
    db: neverUsed,
    metrics: neverUsed,
    flagsSynced: neverUsed,
    invalidation: neverUsed,
    draining: neverUsed,
    monitoringIpAllowlist: [],
    keys: neverUsed,
    discovery: neverUsed,
    openapi: config.openapi.enabled ? () => '' : undefined,
  });
}

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
 * `pluginConfig` holds each plugin's validated config slice, which routes functions are called with;
 * `coreRoutes` are the routes core serves besides the plugins' (`coreRoutesOf`).
 */
export function resolvePlugins(
  registry: readonly AnyPluginManifest[],
  enabledNames: ReadonlySet<string>,
  moduleProblems: readonly ModuleProblem[] = [],
  pluginConfig: Readonly<Record<string, unknown>> = {},
  coreRoutes: readonly RouteDefinition<any, any>[] = [],
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

  // Routes of one plugin at one path that share a problem (a proxy entry makes one route per method)
  // are named in one problem, at the place of the first.
  const sharedProblems = new Map<string, { index: number; routes: RouteDefinition<any, any>[] }>();
  const reportShared = (key: string[], route: RouteDefinition<any, any>, describe: (routes: RouteDefinition<any, any>[]) => string) => {
    const id = JSON.stringify(key);
    let shared = sharedProblems.get(id);
    if (!shared) {
      shared = { index: problems.length, routes: [] };
      sharedProblems.set(id, shared);
    }
    shared.routes.push(route);
    problems[shared.index] = describe(shared.routes);
  };
  const reportUse = (plugin: string, route: RouteDefinition<any, any>, what: string) =>
    reportShared([plugin, route.path, what], route, (routes) => `${describeRoutes(plugin, routes)} ${routes.length === 1 ? 'uses' : 'use'} ${what}`);
  const reportDuplicateName = (plugin: string, route: RouteDefinition<any, any>) =>
    reportShared([plugin, route.path, 'duplicate name'], route, (routes) => `duplicate route name${routes.length === 1 ? '' : 's'} ${listed(routes.map((each) => each.name))}`);
  const routeKeys = new Map<string, string>(coreRoutes.map((route) => [`${route.method} ${normalisePath(route.path)}`, route.name]));
  const routeNames = new Set<string>(coreRoutes.map((route) => route.name));
  for (const plugin of enabled) {
    for (const route of routesByPlugin.get(plugin.name)!) {
      if (!strategies.has(route.auth.strategy)) {
        const provider = allStrategies.get(route.auth.strategy);
        reportUse(
          plugin.name,
          route,
          provider
            ? `auth strategy "${route.auth.strategy}", provided by plugin ${provider}, which is disabled`
            : `unknown auth strategy "${route.auth.strategy}"`,
        );
      }
      if (route.flag && !flags.has(route.flag)) reportUse(plugin.name, route, `undeclared flag "${route.flag}"`);
      const key = `${route.method} ${normalisePath(route.path)}`;
      const existing = routeKeys.get(key);
      if (existing) problems.push(`duplicate route ${route.method} ${route.path}: ${existing} and ${route.name}`);
      else routeKeys.set(key, route.name);
      if (routeNames.has(route.name)) reportDuplicateName(plugin.name, route);
      routeNames.add(route.name);
    }
  }
  const everyRoute = [
    ...coreRoutes.map((route) => ({ plugin: 'core', route })),
    ...enabled.flatMap((plugin) => routesByPlugin.get(plugin.name)!.map((route) => ({ plugin: plugin.name, route }))),
  ];
  // A route matching a whole prefix shadows or is shadowed by any other plugin's (or core's) route
  // that matches one of the same requests: under the prefix, or with a parameter where the prefix has
  // a literal (`/users/:id` and `/users/reports`). A duplicate is already listed as such.
  everyRoute.forEach((prefixed, index) => {
    if (prefixOf(prefixed.route.path) === undefined) return;
    everyRoute.forEach((other, otherIndex) => {
      const { method, path } = prefixed.route;
      if (other.plugin === prefixed.plugin || other.route.method !== method) return;
      // Two prefix routes are one collision, listed under the first.
      if (otherIndex < index && prefixOf(other.route.path) !== undefined) return;
      if (normalisePath(other.route.path) === normalisePath(path) || !pathsOverlap(path, other.route.path)) return;
      problems.push(`route ${prefixed.route.name} (${method} ${describeMatched(path)}) collides with ${other.route.name} (${method} ${describeMatched(other.route.path)})`);
    });
  });

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
  config: Pick<AppConfig, 'plugins' | 'openapi'>,
  moduleProblems: readonly ModuleProblem[] = [],
): AnyPluginManifest[] {
  return resolvePlugins(registry, enabledPluginNames(config), moduleProblems, config.plugins, coreRoutesOf(config));
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
