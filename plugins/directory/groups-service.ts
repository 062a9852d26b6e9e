import { ServiceError, type Clock, type Knex, type PageWindow } from 'gatehouse';
import { atLeast, authorizationsOf } from './authorizations.js';
import { GroupsRepository, type GroupFilter, type GroupScope } from './groups-repository.js';
import type { MembersRepository } from './members-repository.js';
import type { Namespace, NamespacesRepository, Visibility } from './namespaces-repository.js';
import type { ProjectsRepository } from './projects-repository.js';
import { ACCESS, type ProjectsService, type Viewer } from './projects-service.js';
import { changedNamespace, changedProject, type DirectoryCache } from './read-cache.js';
import type { Removal } from './removal.js';

/** GitLab's remove_group: owners (and admins). */
const REMOVE_GROUP_ACCESS = ACCESS.OWNER;

export const GROUP_ALREADY_MARKED = 'Group has already been marked for deletion';
export const ONLY_SUBGROUPS = '`permanently_remove` option is only available for subgroups.';
export const GROUP_NOT_MARKED = 'Group must be marked for deletion first.';
export const GROUP_NOT_MARKED_FOR_RESTORE = 'Group has not been marked for deletion';
export const GROUP_FULL_PATH_INCORRECT = '`full_path` is incorrect. You must enter the complete path for the subgroup.';

/** What the caller asks of `GET /groups` and friends, beyond the filters. */
export interface GroupListRequest extends Omit<GroupFilter, 'parentId' | 'within'> {
  owned?: boolean;
  minAccessLevel?: number;
  allAvailable?: boolean;
}

/** `DELETE /groups/:id`'s options. */
export interface DeleteGroupInput {
  permanentlyRemove?: boolean;
  fullPath?: string;
}

const isActive = (viewer: Viewer | null): viewer is Viewer => !!viewer && (viewer.state === undefined || viewer.state === 'active');

/** Marks older than this are due for removal. */
export const retentionCutoff = (now: Date, days: number) => new Date(now.getTime() - days * 86_400_000);

/** The `-deletion_scheduled-<id>` suffix GitLab 18 gives a name and path when it marks them for deletion. */
export const scheduledName = (value: string, id: number) => `${value}-deletion_scheduled-${id}`;

/** The name or path from before the mark. */
export const unscheduledName = (value: string, id: number) => (value.endsWith(`-deletion_scheduled-${id}`) ? value.slice(0, -`-deletion_scheduled-${id}`.length) : value);

/**
 * Group lists with GitLab's visibility rules (GroupsFinder), and group deletion as GitLab 18 does it:
 * marked (renamed, `marked_for_deletion_on` set) at once, removed for good when the retention period
 * has passed (or at once for a marked subgroup with `permanently_remove`).
 */
export class GroupsService {
  readonly groups: GroupsRepository;

  constructor(
    private readonly db: Knex,
    private readonly clock: Clock,
    private readonly cache: DirectoryCache,
    private readonly directory: ProjectsService,
    private readonly namespaces: NamespacesRepository,
    private readonly projects: ProjectsRepository,
    private readonly members: MembersRepository,
    private readonly removal: Removal,
    private readonly retentionDays: number,
  ) {
    this.groups = new GroupsRepository(db);
  }

  /**
   * The groups a caller may list (GroupsFinder#all_groups):
   * - anonymous: public groups;
   * - `owned`: groups the user is a direct Owner of; `min_access_level`: groups where their direct
   *   membership is at least that level, and their descendants;
   * - admin with `all_available` (its default for admins): every group;
   * - otherwise the groups the user is a member of (with their descendants, which the membership
   *   reaches, and the groups of projects they are a direct member of) and their ancestors, plus with
   *   `all_available` every public and internal group (with `visibility=public|internal`, that set).
   */
  async scopeFor(viewer: Viewer | null, request: GroupListRequest): Promise<GroupScope> {
    if (!isActive(viewer)) return { ids: [], visibilities: ['public'] };
    const allAvailable = request.allAvailable ?? viewer.isAdmin;
    // Checked before reading memberships: an admin's list of everything needs none of them.
    if (viewer.isAdmin && allAvailable && !request.owned && request.minAccessLevel === undefined) return { all: true };
    const auth = await authorizationsOf(viewer.id, this.members, this.namespaces);
    if (request.owned) return { ids: atLeast(auth.direct, ACCESS.OWNER), visibilities: [] };
    // A group's inherited level is the highest direct one above it: at least N exactly below a membership of at least N.
    if (request.minAccessLevel !== undefined) return { ids: atLeast(auth.groups, request.minAccessLevel), visibilities: [] };
    // GitLab's authorized groups also hold the groups of the projects one is a direct member of.
    const projectGroupIds = await this.projects.namespaceIdsOf([...auth.projects.keys()]);
    const memberGroups = (await this.groups.findByIds([...new Set([...auth.groups.keys(), ...projectGroupIds])])).filter((ns) => ns.kind === 'group');
    const ids = [...memberGroups.map((ns) => ns.id), ...(await this.groups.ancestorIds(memberGroups))];
    // `visibility=public|internal` on its own reads that whole set (GitLab's finder then keeps what the user may see).
    const visibilities: Visibility[] = allAvailable ? ['public', 'internal'] : request.visibility && request.visibility !== 'private' ? [request.visibility] : [];
    return { ids: [...new Set(ids)], visibilities };
  }

  /** `GET /groups`. */
  async list(viewer: Viewer | null, request: GroupListRequest, window: PageWindow) {
    return this.groups.list(await this.scopeFor(viewer, request), request, window);
  }

  /** `GET /groups/:id/subgroups`: the group's direct children the caller may list. */
  async subgroups(viewer: Viewer | null, group: Namespace, request: GroupListRequest, window: PageWindow) {
    return this.groups.list(await this.scopeFor(viewer, request), { ...request, parentId: group.id }, window);
  }

  /** `GET /groups/:id/descendant_groups`: all the group's descendants the caller may list. */
  async descendants(viewer: Viewer | null, group: Namespace, request: GroupListRequest, window: PageWindow) {
    const within = (await this.namespaces.selfAndDescendantIds(group.id)).filter((id) => id !== group.id);
    if (within.length === 0) return { groups: [], total: 0 };
    return this.groups.list(await this.scopeFor(viewer, request), { ...request, within }, window);
  }

  /**
   * `DELETE /groups/:id` (owners and admins). Without `permanentlyRemove` the group is marked for
   * deletion: renamed `<name>-deletion_scheduled-<id>` (path likewise, its subgroups' and projects'
   * paths moving along) and removed for good by `purgeDue` once `retentionDays` have passed; a group
   * under a marked ancestor is left as it is. With `permanentlyRemove`, a marked subgroup is removed at
   * once, with everything in it.
   */
  async delete(viewer: Viewer, group: Namespace, input: DeleteGroupInput): Promise<void> {
    await this.directory.requireGroupAccess(viewer, group, REMOVE_GROUP_ACCESS);
    if (input.permanentlyRemove) {
      if (group.parentId === null) throw new ServiceError(400, ONLY_SUBGROUPS);
      if (!group.markedForDeletionAt) throw new ServiceError(400, GROUP_NOT_MARKED);
      if (input.fullPath !== group.fullPath) throw new ServiceError(400, GROUP_FULL_PATH_INCORRECT);
      await this.removeNow(group.id);
      return;
    }
    const lineage = await this.directory.lineageOf(group);
    if (lineage.some((ns) => ns.id !== group.id && ns.markedForDeletionAt)) return;
    if (group.markedForDeletionAt) throw new ServiceError(400, GROUP_ALREADY_MARKED);
    const tags = await this.db.transaction(async (trx) => {
      const now = this.clock.now();
      const subtree = await this.namespaces.selfAndDescendantIds(group.id, trx);
      const projectIds = await this.projects.idsInNamespaces(subtree, trx);
      await this.groups.renameSubtree(group, scheduledName(group.name, group.id), scheduledName(group.path, group.id), now, trx);
      await this.groups.markForDeletion(group.id, now, trx);
      return [...subtree.map(changedNamespace), ...projectIds.map(changedProject)];
    });
    await this.cache.invalidate(tags);
  }

  /**
   * `POST /groups/:id/restore` (owners and admins): takes the deletion mark off and gives the group
   * its name and path back. When another group or project took the old path meanwhile, the group keeps
   * the `-deletion_scheduled-<id>` path (its name is restored either way).
   */
  async restore(viewer: Viewer, group: Namespace): Promise<Namespace> {
    await this.directory.requireGroupAccess(viewer, group, REMOVE_GROUP_ACCESS);
    if (!group.markedForDeletionAt) throw new ServiceError(400, GROUP_NOT_MARKED_FOR_RESTORE);
    const tags = await this.db.transaction(async (trx) => {
      const now = this.clock.now();
      const path = unscheduledName(group.path, group.id);
      const parentPath = group.fullPath.slice(0, group.fullPath.length - group.path.length);
      const free = !(await this.namespaces.fullPathTaken(`${parentPath}${path}`, trx)) && !(await this.projects.fullPathTaken(`${parentPath}${path}`, trx));
      await this.groups.renameSubtree(group, unscheduledName(group.name, group.id), free ? path : group.path, now, trx);
      await this.groups.unmarkForDeletion(group.id, now, trx);
      const subtree = await this.namespaces.selfAndDescendantIds(group.id, trx);
      return [...subtree.map(changedNamespace), ...(await this.projects.idsInNamespaces(subtree, trx)).map(changedProject)];
    });
    await this.cache.invalidate(tags);
    return (await this.namespaces.findById(group.id))!;
  }

  /** Removes a group, its subgroups and projects and all that hangs off them, in one transaction. */
  async removeNow(groupId: number): Promise<void> {
    const removed = await this.db.transaction((trx) => this.removal.removeNamespaceTree(groupId, trx));
    await this.cache.invalidate(removed.tags);
  }

  /** Removes the groups whose deletion mark is older than the retention period; returns their ids. */
  async purgeDue(): Promise<number[]> {
    const due = await this.groups.markedBefore(retentionCutoff(this.clock.now(), this.retentionDays));
    const purged: number[] = [];
    for (const id of due) {
      // A subgroup may have gone with a parent purged just before it.
      if (!(await this.namespaces.findById(id))) continue;
      await this.removeNow(id);
      purged.push(id);
    }
    return purged;
  }

}
