import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { findPluginModules, loadConfig, type LoadConfigOptions } from '../config/loader.js';
import type { AppConfig, PluginConfigSource } from '../config/schema.js';
import type { ModuleProblem } from './loader.js';
import type { AnyPluginManifest } from './types.js';

const MODULE_PROBLEMS = {
  notFound: (plugin: string, spec: string, cwd: string) => `plugin ${plugin}: module "${spec}" not found (looked up from ${cwd})`,
  unresolvable: (plugin: string, spec: string, reason: string) => `plugin ${plugin}: module "${spec}" cannot be resolved: ${reason}`,
  failedToLoad: (plugin: string, spec: string, reason: string) => `plugin ${plugin}: module "${spec}" failed to load: ${reason}`,
  noDefaultExport: (plugin: string, spec: string) =>
    `plugin ${plugin}: module "${spec}" has no default export (it must export default the value of definePlugin(...))`,
  notAManifest: (plugin: string, spec: string, reasons: string[]) =>
    `plugin ${plugin}: the default export of module "${spec}" is not a plugin manifest: ${reasons.join(', ')}`,
  otherName: (plugin: string, spec: string, exported: string) =>
    `plugin ${plugin}: module "${spec}" exports plugin "${exported}"; a plugin's config key must be its name`,
  shippedName: (plugin: string, spec: string) =>
    `plugin ${plugin}: module "${spec}" cannot be loaded under the name of a plugin shipped with gatehouse`,
};

/** Configuration together with the plugins it can enable: the shipped ones and those its `module` keys name. */
export interface LoadedConfig {
  config: AppConfig;
  /** Shipped plugins, then the plugins loaded from `plugins.<name>.module`. */
  registry: readonly AnyPluginManifest[];
  /** Why some `module` entries could not be used; the plugin loader lists those of enabled plugins. */
  moduleProblems: readonly ModuleProblem[];
  /** The file each plugin loaded from `plugins.<name>.module` came from, by plugin name. */
  modules: ReadonlyMap<string, string>;
}

export interface LoadConfigWithPluginsOptions extends Omit<LoadConfigOptions, 'plugins'> {
  /** The plugins this build ships (the registry). */
  shipped: readonly AnyPluginManifest[];
}

type ModuleOutcome =
  | { kind: 'loaded'; plugin: string; manifest: AnyPluginManifest; file: string }
  | { kind: 'shipped-name'; plugin: string; problem: string }
  | { kind: 'unloadable'; plugin: string; problem?: string };

/**
 * Loads configuration in two phases, as Kong separates "loaded" from "enabled": first the `module` key
 * of every plugin slice is read from the raw config layers and its module imported, then the whole
 * config is validated against the schemas of the shipped and the loaded plugins. A module that cannot
 * be used is not an error here: its problem is returned for the plugin loader to list with the others.
 */
export async function loadConfigWithPlugins(options: LoadConfigWithPluginsOptions): Promise<LoadedConfig> {
  const cwd = options.cwd ?? process.cwd();
  const shippedNames = new Set(options.shipped.map((plugin) => plugin.name));
  const entries = [...findPluginModules({ ...options, cwd })];
  const outcomes = await Promise.all(entries.map(([plugin, spec]) => loadPluginModule(plugin, spec, cwd, shippedNames)));

  const loaded = outcomes.filter((outcome) => outcome.kind === 'loaded');
  const config = loadConfig({ ...options, cwd, plugins: configSources(options.shipped, outcomes) });
  return {
    config,
    registry: [...options.shipped, ...loaded.map((outcome) => outcome.manifest)],
    moduleProblems: outcomes.flatMap((outcome) => ('problem' in outcome && outcome.problem ? [{ plugin: outcome.plugin, message: outcome.problem }] : [])),
    modules: new Map(loaded.map((outcome) => [outcome.plugin, outcome.file])),
  };
}

/**
 * The schema's view of every plugin: a plugin loaded from a module (or a shipped one wrongly given a
 * module) also takes the `module` key; one whose module could not be used is taken unchecked.
 */
function configSources(shipped: readonly AnyPluginManifest[], outcomes: readonly ModuleOutcome[]): PluginConfigSource[] {
  const shippedWithModule = new Set(outcomes.filter((outcome) => outcome.kind === 'shipped-name').map((outcome) => outcome.plugin));
  return [
    ...shipped.map((plugin): PluginConfigSource => (shippedWithModule.has(plugin.name) ? { name: plugin.name, config: plugin.config, origin: 'module' } : plugin)),
    ...outcomes.flatMap((outcome): PluginConfigSource[] => {
      if (outcome.kind === 'loaded') return [{ name: outcome.plugin, config: outcome.manifest.config, origin: 'module' }];
      if (outcome.kind === 'unloadable') return [{ name: outcome.plugin, origin: 'unloadable' }];
      return [];
    }),
  ];
}

async function loadPluginModule(plugin: string, spec: unknown, cwd: string, shippedNames: ReadonlySet<string>): Promise<ModuleOutcome> {
  // Not a usable string: the schema reports the value with its key path.
  if (typeof spec !== 'string' || !spec) return { kind: 'unloadable', plugin };
  if (shippedNames.has(plugin)) return { kind: 'shipped-name', plugin, problem: MODULE_PROBLEMS.shippedName(plugin, spec) };
  const unloadable = (problem: string): ModuleOutcome => ({ kind: 'unloadable', plugin, problem });

  let file: string | undefined;
  try {
    file = resolveModuleFile(spec, cwd);
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    return unloadable(code === 'MODULE_NOT_FOUND' ? MODULE_PROBLEMS.notFound(plugin, spec, cwd) : MODULE_PROBLEMS.unresolvable(plugin, spec, message));
  }
  if (!file) return unloadable(MODULE_PROBLEMS.notFound(plugin, spec, cwd));

  let namespace: Record<string, unknown>;
  try {
    namespace = await import(pathToFileURL(file).href);
  } catch (error) {
    return unloadable(MODULE_PROBLEMS.failedToLoad(plugin, spec, (error as Error).message));
  }
  const manifest = namespace.default;
  if (manifest === undefined) return unloadable(MODULE_PROBLEMS.noDefaultExport(plugin, spec));
  const shapeProblems = manifestShapeProblems(manifest);
  if (shapeProblems.length) return unloadable(MODULE_PROBLEMS.notAManifest(plugin, spec, shapeProblems));
  const valid = manifest as AnyPluginManifest;
  if (valid.name !== plugin) return unloadable(MODULE_PROBLEMS.otherName(plugin, spec, valid.name));
  return { kind: 'loaded', plugin, manifest: valid, file };
}

const isPathSpec = (spec: string) => isAbsolute(spec) || /^\.\.?([\\/]|$)/.test(spec);

/**
 * The file a `module` value names. A path is taken from the working directory (a directory by its
 * package.json `main` or index.js); a package name is resolved as Node resolves it from a file in the
 * working directory, so the operator's own node_modules is searched. undefined when the path is absent.
 */
function resolveModuleFile(spec: string, cwd: string): string | undefined {
  const requireFromCwd = createRequire(resolve(cwd) + sep);
  if (!isPathSpec(spec)) return requireFromCwd.resolve(spec);
  const target = resolve(cwd, spec);
  if (!existsSync(target)) return undefined;
  return statSync(target).isDirectory() ? requireFromCwd.resolve(target) : target;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * What keeps a value from being a manifest the loader can check: the fields it reads, with their types.
 * The loader's own rules (names, core range, routes' auth and flags) run afterwards, like for shipped plugins.
 */
function manifestShapeProblems(value: unknown): string[] {
  if (!isObject(value)) return ['it is not an object'];
  const problems: string[] = [];
  for (const field of ['name', 'version', 'core', 'description']) {
    if (typeof value[field] !== 'string') problems.push(`${field} must be a string`);
  }
  const optional: Array<[string, (field: unknown) => boolean, string]> = [
    ['dependsOn', (field) => Array.isArray(field) && field.every((dep) => typeof dep === 'string'), 'an array of plugin names'],
    ['config', (field) => isObject(field) && typeof field.safeParse === 'function' && isObject(field.shape), 'a z.object schema'],
    ['flags', (field) => Array.isArray(field) && field.every((flag) => isObject(flag) && typeof flag.name === 'string'), 'an array of flags'],
    ['migrations', (field) => isObject(field) && Object.values(field).every((m) => isObject(m) && typeof m.up === 'function'), 'an object of migrations'],
    ['authStrategies', (field) => isObject(field) && Object.values(field).every((f) => typeof f === 'function'), 'an object of strategy factories'],
    ['routes', (field) => typeof field === 'function' || (Array.isArray(field) && field.every(isRouteShaped)), 'an array of routes (name, method, path, auth, handler) or a function of the config'],
    ['services', (field) => typeof field === 'function', 'a function'],
    ['bootstrap', (field) => typeof field === 'function', 'a function'],
    ['close', (field) => typeof field === 'function', 'a function'],
  ];
  for (const [field, isValid, expected] of optional) {
    if (value[field] !== undefined && !isValid(value[field])) problems.push(`${field} must be ${expected}`);
  }
  return problems;
}

const isRouteShaped = (route: unknown) =>
  isObject(route) &&
  typeof route.name === 'string' &&
  typeof route.method === 'string' &&
  typeof route.path === 'string' &&
  isObject(route.auth) &&
  typeof route.handler === 'function';
