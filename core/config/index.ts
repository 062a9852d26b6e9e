import { loadConfig, type LoadConfigOptions } from './loader.js';
import { registry } from '../plugins/registry.js';

export { ConfigError, formatProblem, listConfigKeys, envNameFor } from './loader.js';
export type { AppConfig } from './schema.js';

/**
 * Configuration for the running process: files under ./config, $GATEHOUSE_CONFIG and GATEHOUSE_* from
 * the real environment. The only place outside tests that reads process.env for config.
 */
export function loadProcessConfig(options: Partial<LoadConfigOptions> = {}) {
  return loadConfig({ plugins: registry, env: process.env, cwd: process.cwd(), ...options });
}
