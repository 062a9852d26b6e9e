import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { buildConfigSchema, MOVED_KEYS, type AppConfig, type PluginConfigSource } from './schema.js';

/** One problem found while loading config: the key path and what is wrong, and where the value came from. */
export interface ConfigProblem {
  path: string;
  message: string;
  source?: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(`invalid configuration:\n${problems.map(formatProblem).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export const formatProblem = (p: ConfigProblem) => `  ${p.path || '(root)'}: ${p.message}${p.source ? ` (${p.source})` : ''}`;

/** Environment variables that are not config keys but belong to gatehouse. */
const RESERVED_ENV = new Set(['GATEHOUSE_CONFIG']);
const RESERVED_ENV_PREFIXES = ['GATEHOUSE_TEST_'];

type Json = Record<string, unknown>;

export interface LoadConfigOptions {
  plugins: readonly PluginConfigSource[];
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Skip config/default.json, config/$NODE_ENV.json and $GATEHOUSE_CONFIG (tests build config from overrides). */
  files?: boolean;
  /** Applied last, above the environment. */
  overrides?: Json;
}

/** A leaf of the schema: its path, environment variable name and JSON-schema type (for env coercion). */
export interface ConfigKey {
  path: string[];
  env: string;
  type: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
}

const screamingSnake = (segment: string) =>
  segment
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/-/g, '_')
    .toUpperCase();

/** `['plugins','code-suggestions','enabled']` → `GATEHOUSE_PLUGINS__CODE_SUGGESTIONS__ENABLED`. */
export const envNameFor = (path: string[]) => `GATEHOUSE_${path.map(screamingSnake).join('__')}`;

/** The same as MOVED_KEYS, by environment variable: old variable → new key. */
const MOVED_ENV = new Map(Object.entries(MOVED_KEYS).map(([from, to]) => [envNameFor(from.split('.')), to]));
const movedMessage = (what: string, to: string) => `${what}: moved to ${to} (${envNameFor(to.split('.'))})`;

/** Every leaf key of the schema, derived from its JSON Schema so env names and docs never drift. */
export function listConfigKeys(plugins: readonly PluginConfigSource[]): ConfigKey[] {
  const jsonSchema = z.toJSONSchema(buildConfigSchema(plugins), { io: 'input', unrepresentable: 'any' }) as Json;
  const keys: ConfigKey[] = [];
  const walk = (node: Json, path: string[]) => {
    const properties = node.properties as Record<string, Json> | undefined;
    if (node.type === 'object' && properties) {
      for (const [name, child] of Object.entries(properties)) walk(child, [...path, name]);
      return;
    }
    const variants = (node.anyOf as Json[] | undefined)?.filter((v) => v.type !== 'null');
    const leaf = variants?.length === 1 ? { ...node, ...variants[0] } : node;
    keys.push({
      path,
      env: envNameFor(path),
      type: String(leaf.type ?? (leaf.enum ? 'string' : 'string')),
      description: leaf.description as string | undefined,
      default: leaf.default,
      enum: leaf.enum as unknown[] | undefined,
    });
  };
  walk(jsonSchema, []);
  return keys;
}

function coerceEnv(raw: string, type: string): unknown {
  switch (type) {
    case 'integer':
    case 'number':
      return raw.trim() === '' || Number.isNaN(Number(raw)) ? raw : Number(raw);
    case 'boolean':
      return raw === 'true' || raw === '1' ? true : raw === 'false' || raw === '0' ? false : raw;
    case 'array':
      return raw.trim().startsWith('[') ? safeJson(raw) : raw.split(',').map((s) => s.trim()).filter(Boolean);
    default:
      return raw;
  }
}

function safeJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function setPath(target: Json, path: string[], value: unknown) {
  let node = target;
  for (const segment of path.slice(0, -1)) {
    if (typeof node[segment] !== 'object' || node[segment] === null) node[segment] = {};
    node = node[segment] as Json;
  }
  node[path[path.length - 1]] = value;
}

/** Merges config layers: objects key by key, anything else (arrays included) replaced by the later layer. */
export function deepMerge(base: Json, layer: Json): Json {
  const out: Json = { ...base };
  for (const [key, value] of Object.entries(layer)) {
    const prior = out[key];
    out[key] =
      value && typeof value === 'object' && !Array.isArray(value) && prior && typeof prior === 'object' && !Array.isArray(prior)
        ? deepMerge(prior as Json, value as Json)
        : value;
  }
  return out;
}

function readJsonFile(file: string, problems: ConfigProblem[]): Json {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8'));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Json;
    problems.push({ path: '', message: 'must be a JSON object', source: file });
  } catch (error) {
    problems.push({ path: '', message: `cannot be read: ${(error as Error).message}`, source: file });
  }
  return {};
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * Loads configuration: schema defaults < config/default.json < config/$NODE_ENV.json < $GATEHOUSE_CONFIG
 * < GATEHOUSE_* env < overrides. Strict: unknown keys and unknown GATEHOUSE_* variables are errors.
 * Throws a ConfigError listing every problem at once; returns a frozen config otherwise.
 */
export function loadConfig(options: LoadConfigOptions): AppConfig {
  const env = options.env ?? {};
  const problems: ConfigProblem[] = [];
  let merged: Json = readConfigFiles(options, problems);

  const keysByEnv = new Map(listConfigKeys(options.plugins).map((key) => [key.env, key]));
  const uncheckedEnvPrefixes = options.plugins
    .filter((plugin) => plugin.origin === 'unloadable')
    .map((plugin) => `${envNameFor(['plugins', plugin.name])}__`);
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('GATEHOUSE_') || raw === undefined) continue;
    if (RESERVED_ENV.has(name) || RESERVED_ENV_PREFIXES.some((p) => name.startsWith(p))) continue;
    const key = keysByEnv.get(name);
    // The keys of a plugin whose module did not load are unknown; the plugin loader says why.
    if (!key && uncheckedEnvPrefixes.some((prefix) => name.startsWith(prefix))) continue;
    if (!key) {
      const movedTo = MOVED_ENV.get(name);
      problems.push({ path: name, message: movedTo ? movedMessage('unknown environment variable', movedTo) : 'unknown environment variable (no such config key)' });
      continue;
    }
    const layer: Json = {};
    setPath(layer, key.path, coerceEnv(raw, key.type));
    merged = deepMerge(merged, layer);
  }
  if (options.overrides) merged = deepMerge(merged, options.overrides);

  const result = buildConfigSchema(options.plugins).safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path.map(String);
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          const unknownPath = [...path, key];
          const movedTo = MOVED_KEYS[unknownPath.join('.')];
          const message = path.join('.') === 'plugins' ? 'unknown plugin' : movedTo ? movedMessage('unknown key', movedTo) : 'unknown key';
          problems.push({ path: unknownPath.join('.'), message, source: envSourceHint(unknownPath) });
        }
      } else {
        problems.push({ path: path.join('.'), message: issue.message, source: envSourceHint(path, env) });
      }
    }
  }
  // Checked on the merged input, not the parsed result, so it is listed with every other problem.
  const db = merged.db as Json | undefined;
  if (db?.client === 'pg' && !db.url) problems.push({ path: 'db.url', message: 'required when db.client is pg' });
  if (problems.length) throw new ConfigError(problems);

  const config = result.data as unknown as AppConfig;
  config.externalUrl = (config.externalUrl ?? `http://${config.server.host}:${config.server.port}`).replace(/\/+$/, '');
  return deepFreeze(config);
}

/** config/default.json < config/$NODE_ENV.json < $GATEHOUSE_CONFIG, merged; nothing when `files` is false. */
function readConfigFiles(options: Omit<LoadConfigOptions, 'plugins'>, problems: ConfigProblem[]): Json {
  if (options.files === false) return {};
  const env = options.env ?? {};
  const cwd = options.cwd ?? process.cwd();
  let merged: Json = {};
  const files = [resolve(cwd, 'config/default.json')];
  if (env.NODE_ENV) files.push(resolve(cwd, `config/${env.NODE_ENV}.json`));
  for (const file of files) if (existsSync(file)) merged = deepMerge(merged, readJsonFile(file, problems));
  if (env.GATEHOUSE_CONFIG) merged = deepMerge(merged, readJsonFile(resolve(cwd, env.GATEHOUSE_CONFIG), problems));
  return merged;
}

/** `GATEHOUSE_PLUGINS__BROADCAST_MESSAGES__MODULE` → `broadcast-messages` (plugin names are kebab-case). */
const MODULE_ENV = /^GATEHOUSE_PLUGINS__([A-Z0-9]+(?:_[A-Z0-9]+)*)__MODULE$/;

/**
 * The `plugins.<name>.module` entries of every config layer, by plugin name, read before the schema
 * exists: the modules they name bring the schema of their own slice. Values are as written (the schema
 * checks them later); file problems are left to `loadConfig`, which reports them.
 */
export function findPluginModules(options: Omit<LoadConfigOptions, 'plugins'>): Map<string, unknown> {
  const modules = new Map<string, unknown>();
  const collect = (layer: Json) => {
    const plugins = layer.plugins;
    if (!plugins || typeof plugins !== 'object' || Array.isArray(plugins)) return;
    for (const [name, slice] of Object.entries(plugins as Json)) {
      if (slice && typeof slice === 'object' && 'module' in slice) modules.set(name, (slice as Json).module);
    }
  };
  collect(readConfigFiles(options, []));
  for (const [variable, raw] of Object.entries(options.env ?? {})) {
    const match = MODULE_ENV.exec(variable);
    if (match && raw !== undefined) modules.set(match[1].toLowerCase().replace(/_/g, '-'), raw);
  }
  if (options.overrides) collect(options.overrides);
  return modules;
}

function envSourceHint(path: string[], env?: Record<string, string | undefined>) {
  const name = envNameFor(path);
  return env && env[name] !== undefined ? `from ${name}` : undefined;
}
