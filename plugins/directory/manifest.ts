import { z, definePlugin, generatePepper, PEPPER_RULE } from 'gatehouse';
import { createDirectory } from './migrations/20261122000000_create_directory.js';
import { addUserProfileAndKeyMd5 } from './migrations/20261204000000_add_user_profile_and_key_md5.js';
import { addUserSignInTracking } from './migrations/20261204000100_add_user_sign_in_tracking.js';
import { addDeletionScheduleAndMemberExpiry } from './migrations/20261204000000_add_deletion_schedule_and_member_expiry.js';
import { UsersService } from './users-service.js';
import { KeysService } from './keys-service.js';
import { ProjectsService } from './projects-service.js';
import { changedUser, createDirectoryCache } from './read-cache.js';
import { directoryRoutes } from './routes.js';
import { NamespacesService } from './namespaces-service.js';
import { projectUrls } from './projects-presenter.js';
import type { DirectoryServices } from './services.js';
import { DeletionHooks, DeletionSweeper } from './deletion-hooks.js';
import { GroupsRepository } from './groups-repository.js';
import { GroupsService } from './groups-service.js';
import { ProjectsListService } from './projects-list-service.js';
import { Removal } from './removal.js';
import { KeysRepository } from './keys-repository.js';
import { MembersService } from './members-service.js';
import { UsersRepository } from './users-repository.js';

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
  deletionRetentionDays: z
    .number()
    .int()
    .min(0)
    .default(7)
    .describe(
      'Days a group or project marked for deletion (DELETE /groups/:id, DELETE /projects/:id) is kept before it is removed for good with everything in it; GitLab\'s deletion_adjourned_period.',
    ),
  deletionSweepIntervalMs: z
    .number()
    .int()
    .min(0)
    .default(60_000)
    .describe('How often each instance removes the groups and projects whose retention period has passed; 0 turns the sweep off (then nothing marked is ever removed unless asked with permanently_remove).'),
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
    '20261204000000_add_deletion_schedule_and_member_expiry': addDeletionScheduleAndMemberExpiry,
    '20261204000100_add_user_sign_in_tracking': addUserSignInTracking,
  },
  services: (deps): DirectoryServices => {
    const pepper = deps.secrets.ensure(deps.config.recoveryCodePepperFile, generatePepper, PEPPER_RULE);
    const cache = createDirectoryCache({ bus: deps.bus, max: deps.config.readCacheSize, ttlMs: deps.config.readCacheTtlMs });
    const keys = new KeysService(deps.db, deps.clock, cache);
    const projects = new ProjectsService(deps.db, deps.clock, keys, cache);
    const hooks = new DeletionHooks();
    const groupsRepository = new GroupsRepository(deps.db);
    const removal = new Removal(projects.namespaces, groupsRepository, projects.projects, projects.members, hooks);
    const retention = deps.config.deletionRetentionDays;
    const groups = new GroupsService(deps.db, deps.clock, cache, projects, projects.namespaces, projects.projects, projects.members, removal, retention);
    const projectLists = new ProjectsListService(
      deps.db,
      deps.clock,
      cache,
      projects,
      projects.namespaces,
      projects.projects,
      projects.members,
      new KeysRepository(deps.db),
      removal,
      retention,
    );
    const purgeDueDeletions = async () => {
      await projectLists.purgeDue();
      await groups.purgeDue();
    };
    const sweeper = new DeletionSweeper(purgeDueDeletions, deps.config.deletionSweepIntervalMs, deps.logger);
    return {
      users: new UsersService(deps.db, deps.clock, pepper, cache, removal),
      keys,
      projects,
      readCache: cache,
      userCacheTag: changedUser,
      externalUrl: deps.app.externalUrl,
      projectUrls: (project) => projectUrls(project, deps.app.externalUrl),
      version: deps.app.version,
      namespaces: new NamespacesService(deps.db, deps.clock, projects),
      groups,
      projectLists,
      onProjectDeleted: (handler) => hooks.onProjectDeleted(handler),
      onNamespaceDeleted: (handler) => hooks.onNamespaceDeleted(handler),
      purgeDueDeletions,
      members: new MembersService(deps.db, deps.clock, cache, projects, projects.members, new UsersRepository(deps.db)),
      sweeper,
    };
  },
  close: (services) => services.sweeper.stop(),
  routes: directoryRoutes,
});

