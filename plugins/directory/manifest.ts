import { z } from 'zod';
import { definePlugin } from '../../core/plugins/types.js';
import { generatePepper, PEPPER_RULE } from '../../core/util/secrets.js';
import { createDirectory } from './migrations/20261122000000_create_directory.js';
import { UsersService } from './users-service.js';
import { KeysService } from './keys-service.js';
import { ProjectsService } from './projects-service.js';
import { changedUser, createDirectoryCache, type DirectoryCache } from './read-cache.js';
import { directoryRoutes } from './routes.js';
import { projectUrls } from './projects-presenter.js';
import type { Project } from './projects-repository.js';

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

/** Services the directory exports to dependants (tokens, internal-api, code-suggestions, …). */
export interface DirectoryServices {
  users: UsersService;
  keys: KeysService;
  projects: ProjectsService;
  /**
   * Directory reads, and values dependants derive from them (stored untagged, so any directory write
   * drops them too); `onInvalidate` tells dependants what each write changed.
   */
  readCache: DirectoryCache;
  /** The tag a write to this user is invalidated with: dependants tag what they build from the user with it. */
  userCacheTag(id: number): string;
  externalUrl: string;
  /** A project's SSH and HTTP clone URLs and web URL, as the project API shows them. */
  projectUrls(project: Pick<Project, 'fullPath'>): ReturnType<typeof projectUrls>;
  version: { version: string; revision: string };
}

declare module '../../core/plugins/types.js' {
  interface PluginServices {
    directory: DirectoryServices;
  }
}

export const directoryPlugin = definePlugin({
  name: 'directory',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'Users, SSH keys, groups and projects with memberships; /version, /user and admin user management.',
  config,
  migrations: { '20261122000000_create_directory': createDirectory },
  services: (deps): DirectoryServices => {
    const pepper = deps.secrets.ensure(deps.config.recoveryCodePepperFile, generatePepper, PEPPER_RULE);
    const cache = createDirectoryCache({ bus: deps.bus, max: deps.config.readCacheSize, ttlMs: deps.config.readCacheTtlMs });
    const keys = new KeysService(deps.db, deps.clock, cache);
    return {
      users: new UsersService(deps.db, deps.clock, pepper, cache),
      keys,
      projects: new ProjectsService(deps.db, deps.clock, keys, cache),
      readCache: cache,
      userCacheTag: changedUser,
      externalUrl: deps.app.externalUrl,
      projectUrls: (project) => projectUrls(project, deps.app.externalUrl),
      version: deps.app.version,
    };
  },
  routes: directoryRoutes,
});

