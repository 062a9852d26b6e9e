import type { DirectoryCache } from './read-cache.js';
import type { KeysService } from './keys-service.js';
import type { Project } from './projects-repository.js';
import type { ProjectsService } from './projects-service.js';
import type { UsersService } from './users-service.js';
import type { projectUrls } from './projects-presenter.js';
import type { NamespacesService } from './namespaces-service.js';
import type { GroupsService } from './groups-service.js';
import type { MembersService } from './members-service.js';
import type { ProjectsListService } from './projects-list-service.js';
import type { DeletionHandler, DeletionSweeper } from './deletion-hooks.js';

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
  /** Namespaces as `/namespaces` lists and checks them. */
  namespaces: NamespacesService;
  /** Group lists and group deletion. */
  groups: GroupsService;
  /** Project lists, project deletion and a project's deploy keys. */
  projectLists: ProjectsListService;
  /** Runs `handler` inside the transaction that removes projects for good, before their rows go. */
  onProjectDeleted(handler: DeletionHandler): void;
  /** Runs `handler` inside the transaction that removes groups for good, before their rows go. */
  onNamespaceDeleted(handler: DeletionHandler): void;
  /** Removes the groups and projects whose deletion mark is past the retention period. */
  purgeDueDeletions(): Promise<void>;
  /** Group and project members: lists, updates and removals. */
  members: MembersService;
  /** Runs `purgeDueDeletions` every `deletionSweepIntervalMs`. */
  sweeper: DeletionSweeper;
}

declare module 'gatehouse' {
  interface PluginServices {
    directory: DirectoryServices;
  }
}
