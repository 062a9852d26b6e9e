import type { Knex } from 'gatehouse';
import type { DeletionHooks } from './deletion-hooks.js';
import type { MembersRepository } from './members-repository.js';
import type { NamespacesRepository } from './namespaces-repository.js';
import type { ProjectsRepository } from './projects-repository.js';
import type { GroupsRepository } from './groups-repository.js';
import { changedKey, changedNamespace, changedProject } from './read-cache.js';

/** What a removal took away, as the read-cache tags to invalidate once it commits. */
export interface Removed {
  tags: string[];
}

/**
 * Removes groups and projects for good with everything that hangs off them: memberships, deploy-key
 * links (and deploy keys no other project uses), subgroups, projects, and whatever dependants remove
 * through `onProjectDeleted` / `onNamespaceDeleted` (kubernetes agents and their tokens, …). Runs in the
 * caller's transaction; the caller invalidates the returned tags after the commit.
 */
export class Removal {
  constructor(
    private readonly namespaces: NamespacesRepository,
    private readonly groups: GroupsRepository,
    private readonly projects: ProjectsRepository,
    private readonly members: MembersRepository,
    private readonly hooks: DeletionHooks,
  ) {}

  async removeProjects(projectIds: readonly number[], trx: Knex): Promise<Removed> {
    if (projectIds.length === 0) return { tags: [] };
    await this.hooks.projectsDeleted(projectIds, trx);
    await this.members.deleteOfSources('project', projectIds, trx);
    const keyIds = await this.projects.deployKeyIdsOf(projectIds, trx);
    await this.projects.deleteDeployKeyLinksOf(projectIds, trx);
    await this.projects.deleteDeployKeys(await this.projects.unlinkedDeployKeys(keyIds, trx), trx);
    await this.projects.deleteAll(projectIds, trx);
    return { tags: [...projectIds.map(changedProject), ...keyIds.map(changedKey)] };
  }

  /** Removes a group, its subgroups and every project in them. */
  async removeNamespaceTree(rootId: number, trx: Knex): Promise<Removed> {
    const namespaceIds = await this.namespaces.selfAndDescendantIds(rootId, trx);
    const projectIds = await this.projects.idsInNamespaces(namespaceIds, trx);
    const removed = await this.removeProjects(projectIds, trx);
    await this.hooks.namespacesDeleted(namespaceIds, trx);
    await this.members.deleteOfSources('namespace', namespaceIds, trx);
    await this.groups.deleteAll(namespaceIds, trx);
    return { tags: [...removed.tags, ...namespaceIds.map(changedNamespace)] };
  }
}
