import { z } from 'zod';
import { parseIpRange } from '../util/ip-allowlist.js';

/**
 * The core's configuration schema. Every key is described: the README's configuration table and the
 * `GATEHOUSE_*` environment names are derived from this schema, so a key cannot exist undocumented.
 * Plugins add their own slice under `plugins.<name>` (see `buildConfigSchema`).
 */
export const serverSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1').describe('Interface to listen on.'),
    port: z.number().int().min(0).max(65535).default(3000).describe('TCP port to listen on (0 picks a free port).'),
    bodyLimit: z
      .number()
      .int()
      .positive()
      .default(2 * 1024 * 1024)
      .describe('Largest accepted request body in bytes; larger bodies get 413.'),
    trustProxy: z
      .boolean()
      .default(false)
      .describe('Take the client IP from X-Forwarded-For (set only behind a proxy you run).'),
    maxIpsCount: z
      .number()
      .int()
      .min(0)
      .default(1)
      .describe('With trustProxy, how many X-Forwarded-For entries (from the right) are trusted proxies.'),
    shutdownTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(10_000)
      .describe('On SIGTERM, how long in-flight requests may take before the process exits anyway.'),
  })
  .strict()
  .prefault({})
  .describe('HTTP server.');

export const dbSchema = z
  .object({
    client: z.enum(['sqlite3', 'pg']).default('sqlite3').describe('Database driver: embedded SQLite file or PostgreSQL.'),
    url: z.string().optional().describe('PostgreSQL connection URL (required when client is pg).'),
    filename: z
      .string()
      .optional()
      .describe('SQLite file; default <dataDir>/gatehouse.sqlite3. ":memory:" for a throwaway database.'),
    searchPath: z.string().optional().describe('PostgreSQL schema to use (default: the server default, public).'),
    migrateOnBoot: z.boolean().default(true).describe('Run pending migrations when the gateway starts.'),
    poolMax: z.number().int().positive().default(10).describe('PostgreSQL connection pool size (SQLite uses one).'),
    acquireTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(5_000)
      .describe('How long a request waits for a database connection before failing (bounds requests during an outage).'),
  })
  .strict()
  .prefault({})
  .describe('Database.');

export const redisSchema = z
  .object({
    url: z.string().optional().describe('Redis URL; enables shared rate limits, cache invalidation and readiness.'),
    keyPrefix: z.string().default('gatehouse:').describe('Prefix of every Redis key and channel.'),
    failOpen: z
      .boolean()
      .default(true)
      .describe('When Redis is unreachable, let requests through rate limits (true) or answer 503 (false).'),
  })
  .strict()
  .prefault({})
  .describe('Redis (optional).');

export const unleashSchema = z
  .object({
    url: z.string().optional().describe('Unleash client API URL; without it flags come from bootstrapFile.'),
    token: z.string().optional().describe('Unleash client API token.'),
    appName: z.string().default('gatehouse').describe('Application name reported to Unleash.'),
    environment: z.string().default('default').describe('Unleash environment.'),
    refreshIntervalMs: z.number().int().positive().default(15_000).describe('How often to poll the Unleash server.'),
    bootstrapFile: z
      .string()
      .default('config/flags.json')
      .describe('Offline flag file in Unleash /client/features format.'),
  })
  .strict()
  .prefault({})
  .describe('Feature flags.');

export const logSchema = z
  .object({
    level: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info')
      .describe('Log level (pino).'),
    requests: z.boolean().default(true).describe('Log one line per request.'),
  })
  .strict()
  .prefault({})
  .describe('Logging.');

export const monitoringSchema = z
  .object({
    ipAllowlist: z
      .array(z.string().refine((entry) => parseIpRange(entry) !== undefined, 'must be an IP address or a CIDR range'))
      .default(['127.0.0.0/8', '::1'])
      .describe(
        'Client IPs (addresses or CIDR ranges) that may read /-/readiness and /-/metrics; others get 404, as GitLab\'s monitoring.ip_whitelist. /-/health stays open. The client IP is taken as server.trustProxy says.',
      ),
  })
  .strict()
  .prefault({})
  .describe('Monitoring endpoints.');

export const openapiSchema = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe('Serve the OpenAPI 3.1 document of every enabled route at /-/openapi.json (public; `gatehouse openapi` prints it either way).'),
  })
  .strict()
  .prefault({})
  .describe('OpenAPI document.');

export const signingSchema = z
  .object({
    keyFile: z
      .string()
      .min(1)
      .default('.gatehouse_oidc_signing_key')
      .describe(
        'RSA private key (PKCS#8 PEM) signing every JWT gatehouse issues (AI gateway tokens, proxy identity tokens, ID tokens), published at /oauth/discovery/keys (relative to dataDir; generated with mode 0600 when absent).',
      ),
    previousKeyFiles: z
      .array(z.string().min(1))
      .default([])
      .describe('Older signing keys (private or public PEM) still published at /oauth/discovery/keys, so tokens signed before a rotation verify.'),
  })
  .strict()
  .prefault({})
  .describe('The instance signing key.');

/** Keys that moved into core: the config loader names their new place instead of only refusing them. */
export const MOVED_KEYS: Readonly<Record<string, string>> = {
  'plugins.code-suggestions.signingKeyFile': 'signing.keyFile',
  'plugins.code-suggestions.previousSigningKeyFiles': 'signing.previousKeyFiles',
  'plugins.proxy.signingKeyFile': 'signing.keyFile',
};

export const coreShape = {
  server: serverSchema,
  dataDir: z.string().min(1).default('./data').describe('Directory of the SQLite file and every generated secret file.'),
  externalUrl: z
    .url({ protocol: /^https?$/ })
    .optional()
    .describe('Public URL of this gateway (links, JWT issuers, repository URLs); default http://<host>:<port>.'),
  rootToken: z
    .string()
    .min(20)
    .optional()
    .describe('Seeds the root admin\'s personal access token on an empty database (pass it in the environment).'),
  db: dbSchema,
  redis: redisSchema,
  unleash: unleashSchema,
  log: logSchema,
  monitoring: monitoringSchema,
  openapi: openapiSchema,
  signing: signingSchema,
};

/** The shape every plugin's config slice gets in addition to its own keys. */
export const pluginBaseShape = {
  enabled: z.boolean().default(true).describe('Load this plugin.'),
};

/** The key that names the ES module of a plugin from outside the repository. */
export const pluginModuleShape = {
  module: z
    .string()
    .min(1)
    .describe('ES module whose default export is the plugin\'s manifest: a path (absolute, or relative to the working directory) or an installed package name.'),
};

/** What the config schema needs to know of a plugin. */
export interface PluginConfigSource {
  name: string;
  config?: z.ZodObject;
  /**
   * `module`: loaded from `plugins.<name>.module`, so its slice also takes that key. `unloadable`: named
   * by a `module` that could not be used; its slice is taken unchecked, since the plugin loader already
   * reports why (its schema is unknown).
   */
  origin?: 'shipped' | 'module' | 'unloadable';
}

function pluginSliceSchema(plugin: PluginConfigSource) {
  if (plugin.origin === 'unloadable') return z.object({ ...pluginBaseShape, ...pluginModuleShape }).loose();
  const moduleKey = plugin.origin === 'module' ? pluginModuleShape : {};
  return z.object({ ...pluginBaseShape, ...moduleKey, ...(plugin.config?.shape ?? {}) }).strict();
}

/** Builds the whole schema: core keys plus one strict `plugins.<name>` object per registered plugin. */
export function buildConfigSchema(plugins: readonly PluginConfigSource[]) {
  const pluginShapes: Record<string, z.ZodType> = {};
  for (const plugin of plugins) {
    pluginShapes[plugin.name] = pluginSliceSchema(plugin).prefault({}).describe(`Plugin ${plugin.name}.`);
  }
  return z
    .object({ ...coreShape, plugins: z.object(pluginShapes).strict().prefault({}).describe('Plugins.') })
    .strict();
}

type CoreConfigShape = z.output<z.ZodObject<typeof coreShape>>;

/** Validated, frozen configuration. `plugins` holds each plugin's slice (`enabled` + its own keys). */
export type AppConfig = CoreConfigShape & {
  externalUrl: string;
  plugins: Record<string, { enabled: boolean } & Record<string, unknown>>;
};
