import type { DirectoryCache } from './read-cache.js';
import type { KeysService } from './keys-service.js';
import type { Project } from './projects-repository.js';
import type { ProjectsService } from './projects-service.js';
import type { UsersService } from './users-service.js';
import type { projectUrls } from './projects-presenter.js';
import type { NamespacesService } from './namespaces-service.js';

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
}

declare module 'gatehouse' {
  interface PluginServices {
    directory: DirectoryServices;
  }
}
