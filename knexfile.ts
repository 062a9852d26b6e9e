import type { Knex } from 'knex';
import { loadProcessConfig } from './core/config/index.js';
import { knexConfig, migrationConfig } from './core/db/index.js';
import { resolveEnabledPlugins } from './core/plugins/loader.js';

/**
 * The knex CLI's view of gatehouse: the same configuration the server loads (files + GATEHOUSE_* env)
 * with the same plugins (those named by `module` included) and the same per-plugin migration source,
 * so `knex migrate:*` sees exactly what `gatehouse migrate` runs. Run it with `npm run knex -- migrate:list` (see README). Migrations live in the plugins'
 * manifests, so `migrate:make` has no directory to write to.
 */
const { config, registry, moduleProblems } = await loadProcessConfig();

const knexfile: Knex.Config = {
  ...knexConfig(config),
  migrations: migrationConfig(resolveEnabledPlugins(registry, config, moduleProblems)),
};

export default knexfile;
