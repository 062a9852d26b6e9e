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

  async insert(member: Omit<Member, 'id' | 'createdAt'>, now: Date, trx: Knex = this.db): Promise<Member> {
    await trx(TABLE).insert({
      source_type: member.sourceType,
      source_id: member.sourceId,
      user_id: member.userId,
      access_level: member.accessLevel,
      created_at: now,
    });
    return (await this.find(member.sourceType, member.sourceId, member.userId, trx))!;
  }
}
