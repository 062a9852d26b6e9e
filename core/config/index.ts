import type { LoadConfigOptions } from './loader.js';
import { loadConfigWithPlugins, type LoadedConfig } from '../plugins/external.js';
import { registry } from '../plugins/registry.js';

export { ConfigError, formatProblem, listConfigKeys, envNameFor } from './loader.js';
export type { AppConfig } from './schema.js';
export type { LoadedConfig } from '../plugins/external.js';

/**
 * Configuration for the running process: files under ./config, $GATEHOUSE_CONFIG and GATEHOUSE_* from
 * the real environment, with the plugins it names by `module` loaded. The only place outside tests
 * that reads process.env for config.
 */
export function loadProcessConfig(options: Partial<Omit<LoadConfigOptions, 'plugins'>> = {}): Promise<LoadedConfig> {
  return loadConfigWithPlugins({ shipped: registry, env: process.env, cwd: process.cwd(), ...options });
}
