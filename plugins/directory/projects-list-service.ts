import { RecordNotFoundError, ServiceError, type Clock, type Knex, type PageWindow } from 'gatehouse';
import { atLeast, authorizationsOf, type Authorizations } from './authorizations.js';
import { retentionCutoff, scheduledName, unscheduledName } from './groups-service.js';
import type { KeysRepository } from './keys-repository.js';
import type { MembersRepository } from './members-repository.js';
import type { Namespace, NamespacesRepository, Visibility } from './namespaces-repository.js';
import type { Project, ProjectFilter, ProjectScope, ProjectsRepository } from './projects-repository.js';
import { ACCESS, type ProjectDeployKey, type ProjectsService, type Viewer } from './projects-service.js';
import { changedKey, changedProject, type DirectoryCache } from './read-cache.js';
import type { Removal } from './removal.js';

/** GitLab's remove_project: owners (and admins). */
const REMOVE_PROJECT_ACCESS = ACCESS.OWNER;
/** GitLab's admin_project, which every deploy-key route needs. */
const ADMIN_PROJECT_ACCESS = ACCESS.MAINTAINER;

export const PROJECT_ALREADY_MARKED = 'Project has already been marked for deletion';
export const PROJECT_NOT_MARKED = 'Project must be marked for deletion first.';
export const PROJECT_FULL_PATH_INCORRECT = '`full_path` is incorrect. You must enter the complete path for the project.';
export const PROJECT_NOT_MARKED_FOR_RESTORE = 'Project has not been marked for deletion';
export const DEPLOY_KEY = 'Deploy key';

/** What the caller asks of a project list, beyond the filters. */
export interface ProjectListRequest extends Omit<ProjectFilter, 'namespaceIds'> {
  membership?: boolean;
  owned?: boolean;
  minAccessLevel?: number;
}

/** A page of projects and what the caller's memberships give them there (for `permissions`). */
export interface ProjectListPage {
  projects: Project[];
  total: number;
  /** Undefined for anonymous callers. */
  authorizations?: Authorizations;
}

/** `DELETE /projects/:id`'s options. */
export interface DeleteProjectInput {
  permanentlyRemove?: boolean;
  fullPath?: string;
}

const isActive = (viewer: Viewer | null): viewer is Viewer => !!viewer && (viewer.state === undefined || viewer.state === 'active');

/**
 * Project lists with GitLab's visibility rules (ProjectsFinder), project deletion as GitLab 18 does it,
 * and a project's deploy keys.
 */
export class ProjectsListService {
  constructor(
    private readonly db: Knex,
    private readonly clock: Clock,
    private readonly cache: DirectoryCache,
    private readonly directory: ProjectsService,
    private readonly namespaces: NamespacesRepository,
    private readonly projects: ProjectsRepository,
    private readonly members: MembersRepository,
    private readonly keys: KeysRepository,
    private readonly removal: Removal,
    private readonly retentionDays: number,
  ) {}

  /**
   * The projects a caller may list: anonymous → public ones (`membership`, `owned`,
   * `min_access_level` → none); signed in → those they are authorized for plus every public and
   * internal project; admins → all. `membership`, `owned` and `min_access_level` narrow to the
   * caller's authorized projects (at least Guest, Owner, or that level).
   */
  private async scopeFor(viewer: Viewer | null, request: ProjectListRequest): Promise<{ scope: ProjectScope; authorizations?: Authorizations }> {
    const narrowed = request.membership || request.owned || request.minAccessLevel !== undefined;
    if (!isActive(viewer)) return { scope: { ids: [], namespaceIds: [], visibilities: narrowed ? [] : ['public'] } };
    const authorizations = await authorizationsOf(viewer.id, this.members, this.namespaces);
    if (!narrowed) {
      // Admins see everything; their memberships still fill each project's `permissions`.
      if (viewer.isAdmin) return { scope: { all: true }, authorizations };
      return { scope: authorized(authorizations, ACCESS.GUEST, ['public', 'internal']), authorizations };
    }
    const min = Math.max(request.owned ? ACCESS.OWNER : ACCESS.GUEST, request.minAccessLevel ?? 0);
    return { scope: authorized(authorizations, min, []), authorizations };
  }

  /** `GET /projects`; `namespaceIds` narrows to a group's or a user's projects. */
  async list(viewer: Viewer | null, request: ProjectListRequest, window: PageWindow, namespaceIds?: readonly number[]): Promise<ProjectListPage> {
    const { scope, authorizations } = await this.scopeFor(viewer, request);
    const page = await this.projects.list(scope, { ...request, namespaceIds }, window);
    return { ...page, authorizations };
  }

  /**
   * `DELETE /projects/:id` (owners and admins). Without `permanentlyRemove` the project is marked for
   * deletion (renamed `<name>-deletion_scheduled-<id>`, path likewise) and removed for good by
   * `purgeDue` once the retention period has passed; a project in a marked group is left as it is.
   * With `permanentlyRemove`, a marked project is removed at once.
   */
  async delete(viewer: Viewer, project: Project, input: DeleteProjectInput): Promise<void> {
    await this.directory.requireProjectAccess(viewer, project, REMOVE_PROJECT_ACCESS);
    if (input.permanentlyRemove) {
      if (!project.markedForDeletionAt) throw new ServiceError(400, PROJECT_NOT_MARKED);
      if (input.fullPath !== project.fullPath) throw new ServiceError(400, PROJECT_FULL_PATH_INCORRECT);
      await this.removeNow(project.id);
      return;
    }
    const lineage = await this.directory.projectLineage(project);
    if (lineage.some((ns) => ns.markedForDeletionAt)) return;
    if (project.markedForDeletionAt) throw new ServiceError(400, PROJECT_ALREADY_MARKED);
    const namespace = lineage[lineage.length - 1];
    await this.db.transaction(async (trx) => {
      const now = this.clock.now();
      const path = scheduledName(project.path, project.id);
      await this.projects.rename(project.id, scheduledName(project.name, project.id), path, `${namespace.fullPath}/${path}`, now, trx);
      await this.projects.markForDeletion(project.id, now, trx);
    });
    await this.cache.invalidate([changedProject(project.id)]);
  }

  /**
   * `POST /projects/:id/restore` (owners and admins): takes the deletion mark off and gives the project
   * its name and path back (the path only when nothing took it meanwhile).
   */
  async restore(viewer: Viewer, project: Project): Promise<Project> {
    await this.directory.requireProjectAccess(viewer, project, REMOVE_PROJECT_ACCESS);
    if (!project.markedForDeletionAt) throw new ServiceError(400, PROJECT_NOT_MARKED_FOR_RESTORE);
    const lineage = await this.directory.projectLineage(project);
    const namespace = lineage[lineage.length - 1];
    await this.db.transaction(async (trx) => {
      const now = this.clock.now();
      const original = unscheduledName(project.path, project.id);
      const originalFullPath = `${namespace.fullPath}/${original}`;
      const free = !(await this.projects.fullPathTaken(originalFullPath, trx)) && !(await this.namespaces.fullPathTaken(originalFullPath, trx));
      const name = unscheduledName(project.name, project.id);
      const nameFree = !(await this.projects.nameTaken(project.namespaceId, name, project.id, trx));
      const path = free ? original : project.path;
      await this.projects.rename(project.id, nameFree ? name : project.name, path, `${namespace.fullPath}/${path}`, now, trx);
      await this.projects.unmarkForDeletion(project.id, now, trx);
    });
    await this.cache.invalidate([changedProject(project.id)]);
    return (await this.projects.findById(project.id))!;
  }

  /** Removes a project and all that hangs off it, in one transaction. */
  async removeNow(projectId: number): Promise<void> {
    const removed = await this.db.transaction((trx) => this.removal.removeProjects([projectId], trx));
    await this.cache.invalidate(removed.tags);
  }

  /** Removes the projects whose deletion mark is older than the retention period; returns their ids. */
  async purgeDue(): Promise<number[]> {
    const due = await this.projects.markedBefore(retentionCutoff(this.clock.now(), this.retentionDays));
    for (const id of due) await this.removeNow(id);
    return due;
  }

  /** `GET /projects/:id/deploy_keys` (maintainers and admins): one page of the project's deploy keys. */
  async deployKeys(viewer: Viewer, project: Project, window: PageWindow): Promise<{ keys: ProjectDeployKey[]; total: number }> {
    await this.directory.requireProjectAccess(viewer, project, ADMIN_PROJECT_ACCESS);
    const all = await this.directory.deployKeysFor(project.id);
    return { keys: all.slice(window.offset, window.offset + window.limit), total: all.length };
  }

  /** `GET /projects/:id/deploy_keys/:key_id`, else `404 Not found`. */
  async deployKey(viewer: Viewer, project: Project, keyId: number): Promise<ProjectDeployKey> {
    await this.directory.requireProjectAccess(viewer, project, ADMIN_PROJECT_ACCESS);
    const link = await this.projects.findDeployKeyLink(keyId, project.id);
    const key = link ? await this.keys.findById(keyId) : undefined;
    if (!link || !key) throw new RecordNotFoundError();
    return { key, canPush: link.canPush };
  }

  /**
   * `DELETE /projects/:id/deploy_keys/:key_id`: unlinks the key from the project; the key itself goes
   * when no other project uses it. A key not enabled here → `false` (the route's 404).
   */
  async removeDeployKey(viewer: Viewer, project: Project, keyId: number): Promise<boolean> {
    await this.directory.requireProjectAccess(viewer, project, ADMIN_PROJECT_ACCESS);
    const removed = await this.db.transaction(async (trx) => {
      if (!(await this.projects.deleteDeployKeyLink(keyId, project.id, trx))) return false;
      await this.projects.deleteDeployKeys(await this.projects.unlinkedDeployKeys([keyId], trx), trx);
      return true;
    });
    if (removed) await this.cache.invalidate([changedProject(project.id), changedKey(keyId)]);
    return removed;
  }
}

/** The projects reached with at least `min`: in namespaces reached through groups (or one's own), or as a direct member. */
function authorized(auth: Authorizations, min: number, visibilities: Visibility[]): ProjectScope {
  const namespaceIds = atLeast(auth.groups, min);
  if (auth.personalNamespaceId !== undefined) namespaceIds.push(auth.personalNamespaceId);
  return { ids: atLeast(auth.projects, min), namespaceIds, visibilities };
}

/** GitLab's `permissions` block of a listed project: the caller's direct project and group access. */
export function permissionsOf(project: Project, lineage: readonly Namespace[], auth: Authorizations) {
  const own = auth.personalNamespaceId !== undefined && project.namespaceId === auth.personalNamespaceId;
  const projectLevel = own ? ACCESS.OWNER : auth.projects.get(project.id);
  const namespace = lineage[lineage.length - 1];
  const groupLevel = namespace?.kind === 'group' ? auth.groups.get(namespace.id) : undefined;
  // 3 is GitLab's `global` notification level, the default of every membership.
  return {
    project_access: projectLevel ? { access_level: projectLevel, notification_level: 3 } : null,
    group_access: groupLevel ? { access_level: groupLevel, notification_level: 3 } : null,
  };
}
