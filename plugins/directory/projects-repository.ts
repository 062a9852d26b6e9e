import { toDate, isRowId, MAX_INTEGER_COLUMN, type Knex } from 'gatehouse';
import type { Visibility } from './namespaces-repository.js';
import { escapeLike } from './members-repository.js';

const clampToIdColumn = (value: number) => Math.max(-MAX_INTEGER_COLUMN - 1, Math.min(MAX_INTEGER_COLUMN, value));

/**
 * A project. `fullPath` is its namespace's full path plus `/` plus `path`. `diskPath` is where GitLab's
 * hashed storage keeps the repository on `repositoryStorage` (what Gitaly is told).
 */
export interface Project {
  id: number;
  namespaceId: number;
  name: string;
  path: string;
  fullPath: string;
  description: string;
  visibility: Visibility;
  archived: boolean;
  defaultBranch: string;
  repositoryStorage: string;
  diskPath: string;
  creatorId: number | null;
  createdAt: Date;
  updatedAt: Date;
  /** Set while the project waits for removal (GitLab 18's delayed deletion). */
  markedForDeletionAt: Date | null;
}

/** What `insert` stores; `fullPath` is the namespace's full path plus the project path. */
export interface NewProjectRow {
  namespaceId: number;
  name: string;
  path: string;
  fullPath: string;
  description: string;
  visibility: Visibility;
  defaultBranch: string;
  repositoryStorage: string;
  creatorId: number;
  now: Date;
}

/** The columns a project update may change; undefined fields are left alone. */
export interface ProjectChanges {
  name?: string;
  description?: string;
  visibility?: Visibility;
  defaultBranch?: string;
  archived?: boolean;
  diskPath?: string;
}

/** A deploy key's link to a project: whether the key may push there. */
export interface DeployKeyLinkRow {
  deployKeyId: number;
  projectId: number;
  canPush: boolean;
  createdAt: Date;
}

const TABLE = 'directory_projects';
const LINKS = 'directory_deploy_keys_projects';
export const PROJECT_COLUMNS = [
  'id',
  'namespace_id',
  'name',
  'path',
  'full_path',
  'description',
  'visibility',
  'archived',
  'default_branch',
  'repository_storage',
  'disk_path',
  'creator_id',
  'created_at',
  'updated_at',
  'marked_for_deletion_at',
];

export function toProject(row: Record<string, unknown>): Project {
  return {
    id: Number(row.id),
    namespaceId: Number(row.namespace_id),
    name: String(row.name),
    path: String(row.path),
    fullPath: String(row.full_path),
    description: String(row.description ?? ''),
    visibility: row.visibility as Visibility,
    archived: Boolean(row.archived),
    defaultBranch: String(row.default_branch),
    repositoryStorage: String(row.repository_storage),
    diskPath: String(row.disk_path),
    creatorId: row.creator_id === null || row.creator_id === undefined ? null : Number(row.creator_id),
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
    markedForDeletionAt: row.marked_for_deletion_at === null || row.marked_for_deletion_at === undefined ? null : toDate(row.marked_for_deletion_at),
  };
}

function toLink(row: Record<string, unknown>): DeployKeyLinkRow {
  return {
    deployKeyId: Number(row.deploy_key_id),
    projectId: Number(row.project_id),
    canPush: Boolean(row.can_push),
    createdAt: toDate(row.created_at),
  };
}

export class ProjectsRepository {
  constructor(private readonly db: Knex) {}

  /** Re-roots the full paths of a namespace's projects after the namespace moved to `prefix`. */
  async movePrefix(namespaceId: number, prefix: string, now: Date, trx: Knex): Promise<void> {
    const rows = await trx(TABLE).select('id', 'path').where({ namespace_id: namespaceId });
    for (const row of rows) {
      const fullPath = `${prefix}/${row.path}`;
      await trx(TABLE).where({ id: row.id }).update({ full_path: fullPath, full_path_lower: fullPath.toLowerCase(), updated_at: now });
    }
  }

  /** The ids of the projects that live directly in any of these namespaces. */
  async idsInNamespaces(namespaceIds: readonly number[], trx: Knex = this.db): Promise<number[]> {
    if (namespaceIds.length === 0) return [];
    const rows = await trx(TABLE).select('id').whereIn('namespace_id', [...namespaceIds]);
    return rows.map((row) => Number(row.id));
  }

  async findById(id: number, trx: Knex = this.db): Promise<Project | undefined> {
    if (!isRowId(id)) return undefined;
    const row = await trx(TABLE).select(PROJECT_COLUMNS).where({ id }).first();
    return row ? toProject(row) : undefined;
  }

  /** Case-insensitive, as GitLab's routes are. */
  async findByFullPath(fullPath: string, trx: Knex = this.db): Promise<Project | undefined> {
    const row = await trx(TABLE).select(PROJECT_COLUMNS).where({ full_path_lower: fullPath.toLowerCase() }).first();
    return row ? toProject(row) : undefined;
  }

  async fullPathTaken(fullPath: string, trx: Knex = this.db): Promise<boolean> {
    const row = await trx(TABLE).select('id').where({ full_path_lower: fullPath.toLowerCase() }).first();
    return row !== undefined;
  }

  /** Whether another project in the namespace already has this name (GitLab: name unique per namespace). */
  async nameTaken(namespaceId: number, name: string, exceptId: number | undefined, trx: Knex = this.db): Promise<boolean> {
    const row = await trx(TABLE)
      .select('id')
      .where({ namespace_id: namespaceId, name })
      .modify((q) => {
        if (exceptId !== undefined) q.whereNot({ id: exceptId });
      })
      .first();
    return row !== undefined;
  }

  /** The distinct visibilities of the projects directly in a namespace. */
  async visibilitiesIn(namespaceId: number, trx: Knex = this.db): Promise<Visibility[]> {
    const rows = await trx(TABLE).distinct('visibility').where({ namespace_id: namespaceId });
    return rows.map((row) => row.visibility as Visibility);
  }

  /** Inserts a project; `diskPath` depends on the new id, so the caller sets it afterwards in the same transaction. */
  async insert(row: NewProjectRow, trx: Knex = this.db): Promise<Project> {
    const [inserted] = await trx(TABLE)
      .insert({
        namespace_id: row.namespaceId,
        name: row.name,
        path: row.path,
        full_path: row.fullPath,
        full_path_lower: row.fullPath.toLowerCase(),
        description: row.description,
        visibility: row.visibility,
        archived: false,
        default_branch: row.defaultBranch,
        repository_storage: row.repositoryStorage,
        disk_path: '',
        creator_id: row.creatorId,
        created_at: row.now,
        updated_at: row.now,
      })
      .returning('id');
    return (await this.findById(Number(typeof inserted === 'object' ? inserted.id : inserted), trx))!;
  }

  async update(id: number, changes: ProjectChanges, now: Date, trx: Knex = this.db): Promise<void> {
    const row: Record<string, unknown> = { updated_at: now };
    if (changes.name !== undefined) row.name = changes.name;
    if (changes.description !== undefined) row.description = changes.description;
    if (changes.visibility !== undefined) row.visibility = changes.visibility;
    if (changes.defaultBranch !== undefined) row.default_branch = changes.defaultBranch;
    if (changes.archived !== undefined) row.archived = changes.archived;
    if (changes.diskPath !== undefined) row.disk_path = changes.diskPath;
    await trx(TABLE).where({ id }).update(row);
  }

  async findDeployKeyLink(deployKeyId: number, projectId: number, trx: Knex = this.db): Promise<DeployKeyLinkRow | undefined> {
    if (!isRowId(deployKeyId) || !isRowId(projectId)) return undefined;
    const row = await trx(LINKS).where({ deploy_key_id: deployKeyId, project_id: projectId }).first();
    return row ? toLink(row) : undefined;
  }

  /** A project's deploy-key links, oldest first. */
  async deployKeyLinksOf(projectId: number, trx: Knex = this.db): Promise<DeployKeyLinkRow[]> {
    const rows = await trx(LINKS).where({ project_id: projectId }).orderBy('id', 'asc');
    return rows.map(toLink);
  }

  /** The projects a deploy key is linked to. */
  async projectIdsOfDeployKey(deployKeyId: number, trx: Knex = this.db): Promise<number[]> {
    const rows = await trx(LINKS).select('project_id').where({ deploy_key_id: deployKeyId }).orderBy('id', 'asc');
    return rows.map((row) => Number(row.project_id));
  }

  async insertDeployKeyLink(link: Omit<DeployKeyLinkRow, 'createdAt'>, now: Date, trx: Knex = this.db): Promise<DeployKeyLinkRow> {
    await trx(LINKS).insert({ deploy_key_id: link.deployKeyId, project_id: link.projectId, can_push: link.canPush, created_at: now });
    return (await this.findDeployKeyLink(link.deployKeyId, link.projectId, trx))!;
  }

  /** The namespaces these projects live in. */
  async namespaceIdsOf(projectIds: readonly number[], trx: Knex = this.db): Promise<number[]> {
    if (projectIds.length === 0) return [];
    const rows = await trx(TABLE).distinct('namespace_id').whereIn('id', [...projectIds]);
    return rows.map((row) => Number(row.namespace_id));
  }

  /** The deploy keys linked to any of these projects. */
  async deployKeyIdsOf(projectIds: readonly number[], trx: Knex = this.db): Promise<number[]> {
    if (projectIds.length === 0) return [];
    const rows = await trx(LINKS).distinct('deploy_key_id').whereIn('project_id', [...projectIds]);
    return rows.map((row) => Number(row.deploy_key_id));
  }

  /** Unlinks every deploy key from these projects. */
  async deleteDeployKeyLinksOf(projectIds: readonly number[], trx: Knex): Promise<void> {
    if (projectIds.length === 0) return;
    await trx(LINKS).whereIn('project_id', [...projectIds]).delete();
  }

  /** Unlinks one deploy key from one project; false when it was not linked. */
  async deleteDeployKeyLink(deployKeyId: number, projectId: number, trx: Knex): Promise<boolean> {
    if (!isRowId(deployKeyId) || !isRowId(projectId)) return false;
    return (await trx(LINKS).where({ deploy_key_id: deployKeyId, project_id: projectId }).delete()) > 0;
  }

  /** Of these deploy keys, the ones no project uses any more (to be deleted with their last link). */
  async unlinkedDeployKeys(keyIds: readonly number[], trx: Knex = this.db): Promise<number[]> {
    if (keyIds.length === 0) return [];
    const rows = await trx(LINKS).distinct('deploy_key_id').whereIn('deploy_key_id', [...keyIds]);
    const used = new Set(rows.map((row) => Number(row.deploy_key_id)));
    return keyIds.filter((id) => !used.has(id));
  }

  async deleteDeployKeys(keyIds: readonly number[], trx: Knex): Promise<void> {
    if (keyIds.length === 0) return;
    await trx('directory_ssh_keys').whereIn('id', [...keyIds]).where({ type: 'deploy_key' }).delete();
  }

  async deleteAll(projectIds: readonly number[], trx: Knex): Promise<void> {
    if (projectIds.length === 0) return;
    await trx(TABLE).whereIn('id', [...projectIds]).delete();
  }

  /** Renames a project and moves its full path (marking it for deletion, as GitLab does). */
  async rename(id: number, name: string, path: string, fullPath: string, now: Date, trx: Knex): Promise<void> {
    await trx(TABLE).where({ id }).update({ name, path, full_path: fullPath, full_path_lower: fullPath.toLowerCase(), updated_at: now });
  }

  async markForDeletion(id: number, now: Date, trx: Knex): Promise<void> {
    await trx(TABLE).where({ id }).update({ marked_for_deletion_at: now, updated_at: now });
  }

  async unmarkForDeletion(id: number, now: Date, trx: Knex): Promise<void> {
    await trx(TABLE).where({ id }).update({ marked_for_deletion_at: null, updated_at: now });
  }

  /** Projects whose deletion mark is at or before `before`. */
  async markedBefore(before: Date, trx: Knex = this.db): Promise<number[]> {
    const rows = await trx(TABLE).select('id').whereNotNull('marked_for_deletion_at').andWhere('marked_for_deletion_at', '<=', before).orderBy('id');
    return rows.map((row) => Number(row.id));
  }

  /** One page of projects within a scope, with the total the filters leave (for offset pagination). */
  async list(scope: ProjectScope, filter: ProjectFilter, window: { offset: number; limit: number }): Promise<{ projects: Project[]; total: number }> {
    const query = this.db(`${TABLE} as p`);
    if (!scope.all) {
      const { ids, namespaceIds, visibilities } = scope;
      if (ids.length === 0 && namespaceIds.length === 0 && visibilities.length === 0) return { projects: [], total: 0 };
      query.andWhere((q) => {
        if (ids.length > 0) q.orWhereIn('p.id', [...ids]);
        if (namespaceIds.length > 0) q.orWhereIn('p.namespace_id', [...namespaceIds]);
        if (visibilities.length > 0) q.orWhereIn('p.visibility', [...visibilities]);
      });
    }
    if (filter.namespaceIds) query.whereIn('p.namespace_id', [...filter.namespaceIds]);
    if (filter.visibility) query.andWhere('p.visibility', filter.visibility);
    if (filter.archived !== undefined) query.andWhere('p.archived', filter.archived);
    // Bounds past what an id column holds are clamped to it (PostgreSQL would refuse the comparison).
    if (filter.idAfter !== undefined) query.andWhere('p.id', '>', clampToIdColumn(filter.idAfter));
    if (filter.idBefore !== undefined) query.andWhere('p.id', '<', clampToIdColumn(filter.idBefore));
    if (filter.search) {
      const pattern = `%${escapeLike(filter.search.toLowerCase())}%`;
      query.andWhere((q) => {
        q.whereRaw("lower(p.name) like ? escape '\\'", [pattern])
          .orWhereRaw("lower(p.path) like ? escape '\\'", [pattern])
          .orWhereRaw("lower(p.description) like ? escape '\\'", [pattern]);
        if (filter.searchNamespaces) q.orWhereRaw("p.full_path_lower like ? escape '\\'", [pattern]);
      });
    }
    const total = filter.skipCount ? 0 : Number((await query.clone().count({ n: '*' }).first())?.n ?? 0);
    const column = PROJECT_ORDER_COLUMNS[filter.orderBy];
    const rows = await query
      .select(PROJECT_COLUMNS.map((c) => `p.${c}`))
      .orderBy(`p.${column}`, filter.sort)
      .modify((q) => {
        if (column !== 'id') q.orderBy('p.id', filter.sort);
      })
      .offset(window.offset)
      .limit(window.limit);
    return { projects: rows.map(toProject), total };
  }
}

/** The orders `GET /projects` takes, and the column each sorts by (what gatehouse does not keep sorts by id). */
export const PROJECT_ORDER_COLUMNS = {
  id: 'id',
  name: 'name',
  path: 'path',
  created_at: 'id',
  updated_at: 'updated_at',
  last_activity_at: 'updated_at',
  similarity: 'id',
  star_count: 'id',
} as const;
export type ProjectOrder = keyof typeof PROJECT_ORDER_COLUMNS;

/**
 * Which projects a caller may list at all: every project, or those with these ids, in these
 * namespaces, or of these visibilities (GitLab's union of authorized and public/internal projects).
 */
export type ProjectScope =
  | { all: true }
  | { all?: false; ids: readonly number[]; namespaceIds: readonly number[]; visibilities: readonly Visibility[] };

/** The filters of the project lists, applied within a scope. */
export interface ProjectFilter {
  /** Only projects directly in these namespaces (a group's, a user's). */
  namespaceIds?: readonly number[];
  search?: string;
  searchNamespaces?: boolean;
  visibility?: Visibility;
  archived?: boolean;
  idAfter?: number;
  idBefore?: number;
  orderBy: ProjectOrder;
  sort: 'asc' | 'desc';
  /** Keyset pages carry no totals. */
  skipCount?: boolean;
}
