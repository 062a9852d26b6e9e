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
    if (member.sourceType === 'project') {
      projects.set(member.sourceId, member.accessLevel);
      continue;
    }
    direct.set(member.sourceId, member.accessLevel);
    for (const id of await namespaces.selfAndDescendantIds(member.sourceId, db)) {
      groups.set(id, Math.max(groups.get(id) ?? 0, member.accessLevel));
    }
  }
  const personal = await namespaces.findUserNamespace(userId, db);
  return { groups, direct, projects, personalNamespaceId: personal?.id };
}

/** The keys of a level map whose level is at least `min`. */
export const atLeast = (levels: ReadonlyMap<number, number>, min: number): number[] =>
  [...levels].filter(([, level]) => level >= min).map(([id]) => id);
