import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { AppConfig } from '../config/schema.js';
import type { FlagContext, FlagDefinition, FlagResolver } from '../plugins/types.js';

/** A FlagResolver that also owns resources and can report whether it has synced. */
export interface ManagedFlagResolver extends FlagResolver {
  /** True once flags came from the Unleash server (always true offline). */
  synced(): boolean;
  close(): Promise<void>;
}

/** A feature in Unleash's `/client/features` format (the subset the offline file uses). */
interface ClientFeature {
  name: string;
  enabled: boolean;
  strategies?: Array<{ name: string; parameters?: Record<string, string>; constraints?: unknown[] }>;
  [key: string]: unknown;
}

/** The offline flag file in Unleash's `/client/features` shape, with every declared flag at its default. */
export function defaultFlagFile(flags: readonly FlagDefinition[]) {
  return {
    version: 1,
    features: flags.map((flag) => ({
      name: flag.name,
      description: flag.description,
      type: flag.kind,
      enabled: flag.default,
      strategies: [{ name: 'default', parameters: {} }],
    })),
  };
}

/**
 * The answer a toggle gives whatever the context: a missing toggle is the manifest default, a disabled
 * one false, one whose strategies are all unconstrained `default`s true; undefined when the answer can
 * depend on the context (or the toggle is malformed, which is left to unleash-client to report).
 */
function constantAnswerOf(name: string, feature: ClientFeature | undefined, defaults: ReadonlyMap<string, boolean>): boolean | undefined {
  if (!feature) return defaults.get(name) ?? false;
  if (!feature.enabled) return false;
  if ((feature as { dependencies?: unknown[] }).dependencies?.length) return undefined;
  const strategies = feature.strategies as Array<{ name: string; constraints?: unknown[]; segments?: unknown[]; disabled?: boolean }> | undefined;
  if (!Array.isArray(strategies)) return undefined;
  const unconstrained = strategies.every((strategy) => strategy?.name === 'default' && !strategy.constraints?.length && !strategy.segments?.length && !strategy.disabled);
  return unconstrained ? true : undefined;
}

function readFlagFile(path: string, logger: Logger): ClientFeature[] {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as { features?: ClientFeature[] };
    return Array.isArray(parsed.features) ? parsed.features : [];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn({ err: error, path }, 'flag file unreadable; using manifest defaults');
    return [];
  }
}

/**
 * One unleash-client instance for the process (never the global `initialize()`). Without a server URL it
 * evaluates the offline bootstrap file and never polls; with one it polls without blocking boot, and the
 * manifest defaults answer until the first sync (and for flags the server does not know).
 */
export async function createFlagResolver(options: {
  config: AppConfig['unleash'];
  flags: readonly FlagDefinition[];
  logger: Logger;
  cwd?: string;
}): Promise<ManagedFlagResolver> {
  const { config, flags, logger } = options;
  const defaults = new Map(flags.map((flag) => [flag.name, flag.default]));
  const offline = !config.url;
  const bootstrap = offline ? readFlagFile(resolve(options.cwd ?? process.cwd(), config.bootstrapFile), logger) : [];

  // An offline file whose every toggle answers the same for every context (the shipped one) needs no
  // rule engine: unleash-client is not even loaded, which keeps about 9 MB out of the process (peak
  // RSS of the PAT benchmark 147.8–153.9 MB with it). Any toggle with constraints, segments, other
  // strategies or dependencies, or a server URL, brings in unleash-client to evaluate it.
  if (offline && bootstrap.every((feature) => typeof feature?.name === 'string' && constantAnswerOf(feature.name, feature, defaults) !== undefined)) {
    const answers = new Map(bootstrap.map((feature) => [feature.name, constantAnswerOf(feature.name, feature, defaults)!]));
    return {
      isEnabled: (name: string) => answers.get(name) ?? defaults.get(name) ?? false,
      isDeclared: (name: string) => defaults.has(name),
      synced: () => true,
      close: async () => {},
    };
  }

  const { Unleash, InMemStorageProvider } = await import('unleash-client');
  const unleash = new Unleash({
    appName: config.appName,
    environment: config.environment,
    // Offline, the URL is never contacted: refreshInterval 0 disables polling.
    url: config.url ?? 'http://127.0.0.1:9/unleash-offline',
    refreshInterval: offline ? 0 : config.refreshIntervalMs,
    disableMetrics: true,
    // In memory: the default provider writes unleash-backup-<app>.json into the OS temp dir.
    storageProvider: new InMemStorageProvider(),
    bootstrap: { data: bootstrap as never },
    customHeaders: config.token ? { Authorization: config.token } : undefined,
    disableAutoStart: true,
    skipInstanceCountWarning: true,
    timeout: 5_000,
  });
  let closed = false;
  let synced = offline;
  unleash.on('error', (error: Error) => {
    if (closed) return;
    // A 401/403 from the server stops polling for good: say so loudly.
    const message = String(error?.message ?? error);
    if (/\b40[13]\b/.test(message)) logger.error({ err: error }, 'Unleash refused our token; flag polling has stopped');
    else logger.warn({ err: error }, 'Unleash error; serving last known flags');
  });
  unleash.on('warn', (message: unknown) => !closed && logger.warn({ unleash: message }, 'Unleash warning'));
  unleash.on('synchronized', () => {
    synced = true;
    logger.info('feature flags synchronised with Unleash');
  });

  const ready = new Promise<void>((done) => unleash.once('ready', () => done()));
  // start() never resolves while the server is unreachable; it must not hold boot.
  unleash.start().catch((error: Error) => logger.warn({ err: error }, 'Unleash failed to start; using manifest defaults'));
  if (offline) await Promise.race([ready, new Promise((done) => setTimeout(done, 250))]);

  // Answers that cannot depend on the context (toggle off, unknown, or on with only unconstrained
  // `default` strategies), remembered until Unleash reports new toggles: most checks are of ops flags
  // like these, on every request, and unleash-client evaluates each call afresh.
  const constant = new Map<string, boolean>();
  unleash.on('changed', () => constant.clear());
  const constantAnswer = (name: string) => constantAnswerOf(name, unleash.getFeatureToggleDefinition(name) as ClientFeature | undefined, defaults);

  return {
    isEnabled(name: string, context?: FlagContext) {
      let answer = constant.get(name);
      if (answer !== undefined) return answer;
      answer = constantAnswer(name);
      if (answer === undefined) return unleash.isEnabled(name, context ? { ...context } : undefined, defaults.get(name) ?? false);
      constant.set(name, answer);
      return answer;
    },
    // Flags only the Unleash server or the bootstrap file knows are not declared: no code reads them.
    isDeclared: (name: string) => defaults.has(name),
    synced: () => synced,
    async close() {
      closed = true;
      try {
        unleash.destroy();
      } catch (error) {
        logger.warn({ err: error }, 'Unleash shutdown failed');
      }
    },
  };
}

/** For tests: declared defaults plus overrides that can change while the app runs. */
export function createStaticFlags(flags: readonly FlagDefinition[], overrides: Record<string, boolean> = {}) {
  const declared = new Set(flags.map((flag) => flag.name));
  const values = new Map(flags.map((flag) => [flag.name, flag.default]));
  for (const [name, value] of Object.entries(overrides)) values.set(name, value);
  return {
    isEnabled: (name: string) => values.get(name) ?? false,
    // An override does not declare a flag, as a bootstrap file's entry does not.
    isDeclared: (name: string) => declared.has(name),
    set: (name: string, value: boolean) => void values.set(name, value),
    synced: () => true,
    close: async () => {},
  };
}
