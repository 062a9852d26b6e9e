import { z, definePlugin, generatePepper, PEPPER_RULE } from 'gatehouse';
import { createDirectory } from './migrations/20261122000000_create_directory.js';
import { addUserProfileAndKeyMd5 } from './migrations/20261204000000_add_user_profile_and_key_md5.js';
import { UsersService } from './users-service.js';
import { KeysService } from './keys-service.js';
import { ProjectsService } from './projects-service.js';
import { changedUser, createDirectoryCache } from './read-cache.js';
import { directoryRoutes } from './routes.js';
import { NamespacesService } from './namespaces-service.js';
import { projectUrls } from './projects-presenter.js';
import type { DirectoryServices } from './services.js';

const config = z.object({
  readCacheSize: z.number().int().min(1).default(10_000).describe('How many directory reads (keys, users, projects, access levels) to keep in memory.'),
  readCacheTtlMs: z
    .number()
    .int()
    .min(1)
    .default(10_000)
    .describe(
      'Longest time a cached directory read may go unchecked. Every write through the API clears the cache at once on this instance, and on all instances when Redis is configured; this bounds staleness between instances without Redis (or while it is down).',
    ),
  recoveryCodePepperFile: z
    .string()
    .default('.gatehouse_recovery_code_pepper')
    .describe('Secret file peppering 2FA recovery code digests (relative to dataDir; generated when absent).'),
});

export const directoryPlugin = definePlugin({
  name: 'directory',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'Users, SSH keys, groups and projects with memberships; /version, /user and admin user management.',
  config,
  migrations: {
    '20261122000000_create_directory': createDirectory,
    '20261204000000_add_user_profile_and_key_md5': addUserProfileAndKeyMd5,
  },
  services: (deps): DirectoryServices => {
    const pepper = deps.secrets.ensure(deps.config.recoveryCodePepperFile, generatePepper, PEPPER_RULE);
    const cache = createDirectoryCache({ bus: deps.bus, max: deps.config.readCacheSize, ttlMs: deps.config.readCacheTtlMs });
    const keys = new KeysService(deps.db, deps.clock, cache);
    const projects = new ProjectsService(deps.db, deps.clock, keys, cache);
    return {
      users: new UsersService(deps.db, deps.clock, pepper, cache),
      keys,
      projects,
      readCache: cache,
      userCacheTag: changedUser,
      externalUrl: deps.app.externalUrl,
      projectUrls: (project) => projectUrls(project, deps.app.externalUrl),
      version: deps.app.version,
      namespaces: new NamespacesService(deps.db, deps.clock, projects),
    };
  },
  routes: directoryRoutes,
});

