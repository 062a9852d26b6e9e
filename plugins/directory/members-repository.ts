import { toDate, isRowId, type Knex } from 'gatehouse';

/** What a membership is on: a namespace (group) or a project. */
export type MemberSource = 'namespace' | 'project';

/** A direct membership of a user in a group or project, with its GitLab access level. */
export interface Member {
  id: number;
  sourceType: MemberSource;
  sourceId: number;
  userId: number;
  accessLevel: number;
  createdAt: Date;
  /** `YYYY-MM-DD`, or null for a membership that does not expire. */
  expiresAt: string | null;
}

const TABLE = 'directory_members';

function toMember(row: Record<string, unknown>): Member {
  return {
    id: Number(row.id),
    sourceType: row.source_type as MemberSource,
    sourceId: Number(row.source_id),
    userId: Number(row.user_id),
    accessLevel: Number(row.access_level),
    createdAt: toDate(row.created_at),
    expiresAt: row.expires_at === null || row.expires_at === undefined ? null : String(row.expires_at),
  };
}

export class MembersRepository {
  constructor(private readonly db: Knex) {}

  async find(sourceType: MemberSource, sourceId: number, userId: number, trx: Knex = this.db): Promise<Member | undefined> {
    if (!isRowId(sourceId) || !isRowId(userId)) return undefined;
    const row = await trx(TABLE).where({ source_type: sourceType, source_id: sourceId, user_id: userId }).first();
    return row ? toMember(row) : undefined;
  }

  /**
   * The highest access level a user holds directly in any of the given namespaces or in the project;
   * 0 when none. One query, whatever the depth of the group hierarchy.
   */
  async maxAccess(userId: number, namespaceIds: readonly number[], projectId: number | undefined, trx: Knex = this.db): Promise<number> {
    if (namespaceIds.length === 0 && projectId === undefined) return 0;
    const row = await trx(TABLE)
      .max({ level: 'access_level' })
      .where({ user_id: userId })
      .andWhere((q) => {
        q.where((inner) => inner.where({ source_type: 'namespace' }).whereIn('source_id', [...namespaceIds]));
        if (projectId !== undefined) q.orWhere((inner) => inner.where({ source_type: 'project', source_id: projectId }));
      })
      .first();
    return Number(row?.level ?? 0);
  }

  /**
   * How many distinct active users hold a membership of at least `minAccess` in any of the given
   * namespaces or projects. Blocked and deactivated users are not counted.
   */
  async countActiveUsers(namespaceIds: readonly number[], projectIds: readonly number[], minAccess: number, trx: Knex = this.db): Promise<number> {
    if (namespaceIds.length === 0 && projectIds.length === 0) return 0;
    const row = await trx(`${TABLE} as m`)
      .join('directory_users as u', 'u.id', 'm.user_id')
      .where('u.state', 'active')
      .andWhere('m.access_level', '>=', minAccess)
      .andWhere((q) => {
        q.where((inner) => inner.where('m.source_type', 'namespace').whereIn('m.source_id', [...namespaceIds]));
        if (projectIds.length > 0) q.orWhere((inner) => inner.where('m.source_type', 'project').whereIn('m.source_id', [...projectIds]));
      })
      .countDistinct({ n: 'm.user_id' })
      .first();
    return Number(row?.n ?? 0);
  }

  /** The ids of the groups a user is a direct member of. */
  async namespaceIdsOf(userId: number, trx: Knex = this.db): Promise<number[]> {
    const rows = await trx(TABLE).select('source_id').where({ user_id: userId, source_type: 'namespace' }).orderBy('source_id');
    return rows.map((row) => Number(row.source_id));
  }

  async insert(member: Omit<Member, 'id' | 'createdAt' | 'expiresAt'>, now: Date, trx: Knex = this.db): Promise<Member> {
    await trx(TABLE).insert({
      source_type: member.sourceType,
      source_id: member.sourceId,
      user_id: member.userId,
      access_level: member.accessLevel,
      created_at: now,
    });
    return (await this.find(member.sourceType, member.sourceId, member.userId, trx))!;
  }

  /** Every direct membership of a user (groups and projects), for working out what they may see. */
  async membershipsOf(userId: number, trx: Knex = this.db): Promise<Member[]> {
    const rows = await trx(TABLE).where({ user_id: userId }).orderBy('id');
    return rows.map(toMember);
  }

  /**
   * The direct memberships of the given sources (one query), oldest first. With `userIds`, only
   * those users'; `query` matches username or name, case-insensitive (GitLab's member search; emails are not searched, so nobody learns them).
   */
  async listOf(sourceType: MemberSource, sourceIds: readonly number[], filter: MemberFilter = {}, trx: Knex = this.db): Promise<Member[]> {
    // An id no integer column can hold matches nothing (PostgreSQL would refuse the comparison).
    const userIds = filter.userIds?.filter(isRowId);
    if (sourceIds.length === 0 || userIds?.length === 0) return [];
    const rows = await trx(`${TABLE} as m`)
      .select('m.*')
      .join('directory_users as u', 'u.id', 'm.user_id')
      .where('m.source_type', sourceType)
      .whereIn('m.source_id', [...sourceIds])
      .modify((q) => {
        if (userIds) q.whereIn('m.user_id', userIds);
        if (filter.query) {
          const pattern = `%${escapeLike(filter.query.toLowerCase())}%`;
          q.andWhere((inner) =>
            inner.whereRaw("lower(u.username) like ? escape '\\'", [pattern]).orWhereRaw("lower(u.name) like ? escape '\\'", [pattern]),
          );
        }
      })
      .orderBy('m.id', 'asc');
    return rows.map(toMember);
  }

  async updateLevel(id: number, changes: { accessLevel: number; expiresAt?: string | null }, trx: Knex = this.db): Promise<void> {
    const row: Record<string, unknown> = { access_level: changes.accessLevel };
    if (changes.expiresAt !== undefined) row.expires_at = changes.expiresAt;
    await trx(TABLE).where({ id }).update(row);
  }

  async delete(id: number, trx: Knex = this.db): Promise<void> {
    await trx(TABLE).where({ id }).delete();
  }

  /** Removes every membership of these sources (the sources are being removed). */
  async deleteOfSources(sourceType: MemberSource, sourceIds: readonly number[], trx: Knex): Promise<number> {
    if (sourceIds.length === 0) return 0;
    return trx(TABLE).where({ source_type: sourceType }).whereIn('source_id', [...sourceIds]).delete();
  }
}

/** How `listOf` narrows a member list. */
export interface MemberFilter {
  userIds?: readonly number[];
  query?: string;
}

/** `%`, `_` and `\` taken literally in a LIKE pattern (with `escape '\'`). */
export const escapeLike = (value: string) => value.replace(/[\\%_]/g, (c) => `\\${c}`);
