import { isRowId, type Knex } from 'gatehouse';
import { NAMESPACE_COLUMNS, toNamespace, type Namespace, type Visibility } from './namespaces-repository.js';
import { escapeLike } from './members-repository.js';

const TABLE = 'directory_namespaces';

/**
 * Which groups a caller may list at all: every group, or the groups with these ids together with every
 * group of these visibilities (GitLab's union of authorized groups and public/internal ones).
 */
export type GroupScope = { all: true } | { all?: false; ids: readonly number[]; visibilities: readonly Visibility[] };

/** The orders `GET /groups` takes (`similarity` is ordered by name here). */
export const GROUP_ORDERS = ['name', 'path', 'id', 'similarity'] as const;
export type GroupOrder = (typeof GROUP_ORDERS)[number];

/** The filters of `GET /groups`, `/subgroups` and `/descendant_groups`, applied within a scope. */
export interface GroupFilter {
  parentId?: number;
  /** Only these groups (the descendants of a group). */
  within?: readonly number[];
  search?: string;
  topLevelOnly?: boolean;
  visibility?: Visibility;
  skipIds?: readonly number[];
  orderBy: GroupOrder;
  sort: 'asc' | 'desc';
}

/** Group rows for the list endpoints; one query for a page and one for the total. */
export class GroupsRepository {
  constructor(private readonly db: Knex) {}

  async list(scope: GroupScope, filter: GroupFilter, window: { offset: number; limit: number }): Promise<{ groups: Namespace[]; total: number }> {
    const query = this.db(TABLE).where({ kind: 'group' });
    if (!scope.all) {
      const { ids, visibilities } = scope;
      if (ids.length === 0 && visibilities.length === 0) return { groups: [], total: 0 };
      query.andWhere((q) => {
        if (ids.length > 0) q.orWhereIn('id', [...ids]);
        if (visibilities.length > 0) q.orWhereIn('visibility', [...visibilities]);
      });
    }
    if (filter.parentId !== undefined) query.andWhere('parent_id', filter.parentId);
    if (filter.within) query.whereIn('id', [...filter.within]);
    if (filter.topLevelOnly) query.whereNull('parent_id');
    if (filter.visibility) query.andWhere('visibility', filter.visibility);
    // Ids no integer column holds skip nothing (PostgreSQL would refuse the comparison).
    const skipIds = filter.skipIds?.filter(isRowId);
    if (skipIds?.length) query.whereNotIn('id', skipIds);
    if (filter.search) {
      const pattern = `%${escapeLike(filter.search.toLowerCase())}%`;
      // Outside one parent GitLab searches the whole route (`parent/child`), else the group's own path.
      const pathColumn = filter.parentId === undefined ? 'full_path_lower' : 'lower(path)';
      query.andWhere((q) =>
        q.whereRaw(`${pathColumn} like ? escape '\\'`, [pattern]).orWhereRaw("lower(name) like ? escape '\\'", [pattern]),
      );
    }
    const countRow = await query.clone().count({ n: '*' }).first();
    const column = filter.orderBy === 'similarity' ? 'name' : filter.orderBy;
    const rows = await query
      .select(NAMESPACE_COLUMNS)
      .orderBy(column, filter.sort)
      .modify((q) => {
        if (column !== 'id') q.orderBy('id', 'asc');
      })
      .offset(window.offset)
      .limit(window.limit);
    return { groups: rows.map(toNamespace), total: Number(countRow?.n ?? 0) };
  }

  /** The ids of these groups' ancestors (by full path prefix; paths of a chain are each other's prefixes). */
  async ancestorIds(groups: readonly Namespace[], trx: Knex = this.db): Promise<number[]> {
    const paths = new Set<string>();
    for (const group of groups) {
      const segments = group.fullPath.toLowerCase().split('/');
      for (let i = 1; i < segments.length; i += 1) paths.add(segments.slice(0, i).join('/'));
    }
    if (paths.size === 0) return [];
    const rows = await trx(TABLE).select('id').whereIn('full_path_lower', [...paths]);
    return rows.map((row) => Number(row.id));
  }

  /** Namespaces by id. */
  async findByIds(ids: readonly number[], trx: Knex = this.db): Promise<Namespace[]> {
    if (ids.length === 0) return [];
    const rows = await trx(TABLE).select(NAMESPACE_COLUMNS).whereIn('id', [...ids]);
    return rows.map(toNamespace);
  }

  /**
   * Renames a namespace subtree: the root's name and path change, and every full path under the old
   * one (subgroups and projects) moves with it. Used to mark a group for deletion as GitLab does.
   */
  async renameSubtree(root: Namespace, name: string, path: string, now: Date, trx: Knex): Promise<void> {
    const oldPrefix = root.fullPath;
    const newPrefix = root.parentId === null ? path : `${oldPrefix.slice(0, oldPrefix.length - root.path.length)}${path}`;
    await trx(TABLE).where({ id: root.id }).update({ name, path, full_path: newPrefix, full_path_lower: newPrefix.toLowerCase(), updated_at: now });
    for (const table of [TABLE, 'directory_projects']) {
      const rows = await trx(table)
        .select('id', 'full_path')
        .whereRaw("full_path_lower like ? escape '\\'", [`${escapeLike(oldPrefix.toLowerCase())}/%`]);
      for (const row of rows) {
        const fullPath = `${newPrefix}${String(row.full_path).slice(oldPrefix.length)}`;
        await trx(table).where({ id: row.id }).update({ full_path: fullPath, full_path_lower: fullPath.toLowerCase() });
      }
    }
  }

  async markForDeletion(id: number, now: Date, trx: Knex): Promise<void> {
    await trx(TABLE).where({ id }).update({ marked_for_deletion_at: now, updated_at: now });
  }

  async unmarkForDeletion(id: number, now: Date, trx: Knex): Promise<void> {
    await trx(TABLE).where({ id }).update({ marked_for_deletion_at: null, updated_at: now });
  }

  /** Top-level groups and subgroups whose deletion mark is older than `before`. */
  async markedBefore(before: Date, trx: Knex = this.db): Promise<number[]> {
    const rows = await trx(TABLE).select('id').where({ kind: 'group' }).whereNotNull('marked_for_deletion_at').andWhere('marked_for_deletion_at', '<=', before).orderBy('id');
    return rows.map((row) => Number(row.id));
  }

  /** Deletes namespaces, deepest first (a parent row is referenced by its children). */
  async deleteAll(ids: readonly number[], trx: Knex): Promise<void> {
    for (const id of [...ids].reverse()) await trx(TABLE).where({ id }).delete();
  }
}
