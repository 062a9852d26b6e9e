import type { Knex } from 'gatehouse';
import type { MembersRepository } from './members-repository.js';
import type { NamespacesRepository } from './namespaces-repository.js';

/**
 * What one user is authorized for through memberships, worked out once per list request:
 * - `groups`: effective level per namespace from group memberships, inherited by every descendant;
 * - `direct`: the user's direct group memberships (GitLab's `owned_groups`, `min_access_level` base);
 * - `projects`: direct project memberships;
 * - `personalNamespaceId`: projects there are the user's own (owner).
 */
export interface Authorizations {
  groups: Map<number, number>;
  direct: Map<number, number>;
  projects: Map<number, number>;
  personalNamespaceId: number | undefined;
}

export async function authorizationsOf(
  userId: number,
  members: MembersRepository,
  namespaces: NamespacesRepository,
  db?: Knex,
): Promise<Authorizations> {
  const memberships = await members.membershipsOf(userId, db);
  const groups = new Map<number, number>();
  const direct = new Map<number, number>();
  const projects = new Map<number, number>();
  for (const member of memberships) {
    if (member.sourceType === 'project') projects.set(member.sourceId, member.accessLevel);
    else direct.set(member.sourceId, member.accessLevel);
  }
  // Down the trees one level per query, whatever the number of memberships: a subgroup inherits the
  // highest level held in any of its ancestors.
  // A group whose level rose is walked again, so a higher membership above a lower one reaches all the
  // way down; levels only rise, so the walk ends.
  for (const [id, level] of direct) groups.set(id, level);
  let frontier = [...direct.keys()];
  while (frontier.length > 0) {
    const raised = new Set<number>();
    for (const child of await namespaces.childrenOf(frontier, db)) {
      const inherited = groups.get(child.parentId) ?? 0;
      const current = groups.get(child.id);
      if (current === undefined || inherited > current) {
        groups.set(child.id, Math.max(current ?? 0, inherited));
        raised.add(child.id);
      }
    }
    frontier = [...raised];
  }
  const personal = await namespaces.findUserNamespace(userId, db);
  return { groups, direct, projects, personalNamespaceId: personal?.id };
}

/** The keys of a level map whose level is at least `min`. */
export const atLeast = (levels: ReadonlyMap<number, number>, min: number): number[] =>
  [...levels].filter(([, level]) => level >= min).map(([id]) => id);
