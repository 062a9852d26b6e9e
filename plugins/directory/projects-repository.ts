import { toDate, isRowId, type Knex } from 'gatehouse';
import type { Visibility } from './namespaces-repository.js';

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
const COLUMNS = [
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
];

function toProject(row: Record<string, unknown>): Project {
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
    const row = await trx(TABLE).select(COLUMNS).where({ id }).first();
    return row ? toProject(row) : undefined;
  }

  /** Case-insensitive, as GitLab's routes are. */
  async findByFullPath(fullPath: string, trx: Knex = this.db): Promise<Project | undefined> {
    const row = await trx(TABLE).select(COLUMNS).where({ full_path_lower: fullPath.toLowerCase() }).first();
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
}
