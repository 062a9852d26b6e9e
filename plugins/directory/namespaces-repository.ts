import { ServiceError, toDate, isRowId, type Knex } from 'gatehouse';

/** GitLab's three visibility levels, least visible first. */
export const VISIBILITIES = ['private', 'internal', 'public'] as const;
export type Visibility = (typeof VISIBILITIES)[number];

/** Orders visibilities as GitLab's levels do (private 0 < internal 10 < public 20). */
export const visibilityRank = (visibility: Visibility) => VISIBILITIES.indexOf(visibility);

/** The same message UsersService uses for a username clash: a personal namespace path is the username. */
const USERNAME_TAKEN = 'Username has already been taken';

/**
 * A namespace: a user's personal namespace (`kind: 'user'`, path = username, owned by `ownerId`) or a
 * group (`kind: 'group'`, possibly nested under `parentId`). `fullPath` is the parent's full path plus
 * `/` plus `path`; paths never change once created, which is what lets ancestors be found by prefix.
 */
export interface Namespace {
  id: number;
  kind: 'user' | 'group';
  name: string;
  path: string;
  fullPath: string;
  parentId: number | null;
  ownerId: number | null;
  description: string;
  visibility: Visibility;
  /** This namespace's own Code Suggestions switch; see `ProjectsService.codeSuggestionsEnabled` for the inherited value. */
  codeSuggestions: boolean;
  createdAt: Date;
  updatedAt: Date;
  /** Set while the group waits for removal (GitLab 18's delayed deletion). */
  markedForDeletionAt: Date | null;
}

/** What `insert` stores; `fullPath` is computed by the caller from the parent. */
export interface NewNamespaceRow {
  kind: Namespace['kind'];
  name: string;
  path: string;
  fullPath: string;
  parentId: number | null;
  ownerId: number | null;
  description: string;
  visibility: Visibility;
  codeSuggestions: boolean;
  now: Date;
}

/** The columns a namespace update may change; undefined fields are left alone. */
export interface NamespaceChanges {
  name?: string;
  description?: string;
  visibility?: Visibility;
  codeSuggestions?: boolean;
}

const TABLE = 'directory_namespaces';
export const NAMESPACE_COLUMNS = [
  'id',
  'kind',
  'name',
  'path',
  'full_path',
  'parent_id',
  'owner_id',
  'description',
  'visibility',
  'code_suggestions',
  'created_at',
  'updated_at',
  'marked_for_deletion_at',
];

export function toNamespace(row: Record<string, unknown>): Namespace {
  return {
    id: Number(row.id),
    kind: row.kind as Namespace['kind'],
    name: String(row.name),
    path: String(row.path),
    fullPath: String(row.full_path),
    parentId: row.parent_id === null || row.parent_id === undefined ? null : Number(row.parent_id),
    ownerId: row.owner_id === null || row.owner_id === undefined ? null : Number(row.owner_id),
    description: String(row.description ?? ''),
    visibility: row.visibility as Visibility,
    codeSuggestions: Boolean(row.code_suggestions),
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
    markedForDeletionAt: row.marked_for_deletion_at === null || row.marked_for_deletion_at === undefined ? null : toDate(row.marked_for_deletion_at),
  };
}

/**
 * The strict prefixes of a full path, lower-cased: `a/b/c` → `a`, `a/b`. For a project's full path
 * these are exactly the full paths of its namespace and that namespace's ancestors.
 */
export function ancestorPaths(fullPath: string): string[] {
  const segments = fullPath.toLowerCase().split('/');
  return segments.slice(0, -1).map((_, i) => segments.slice(0, i + 1).join('/'));
}

const depth = (namespace: Namespace) => namespace.fullPath.split('/').length;

/** Which namespaces `GET /namespaces` keeps; ids limit the set to a user's own (absent for admins). */
export interface NamespaceFilter {
  ids?: readonly number[];
  search?: string;
  /** Match `search` against the full path instead of path and name. */
  fullPathSearch?: boolean;
  topLevelOnly?: boolean;
}

/** `%`, `_` and the escape character itself, escaped for `LIKE … ESCAPE '!'`. */
const likeEscaped = (text: string) => text.replace(/[!%_]/g, (c) => `!${c}`);

export class NamespacesRepository {
  constructor(private readonly db: Knex) {}

  async findById(id: number, trx: Knex = this.db): Promise<Namespace | undefined> {
    if (!isRowId(id)) return undefined;
    const row = await trx(TABLE).select(NAMESPACE_COLUMNS).where({ id }).first();
    return row ? toNamespace(row) : undefined;
  }

  /** Case-insensitive: full paths are unique ignoring case, as GitLab's routes are. */
  async findByFullPath(fullPath: string, trx: Knex = this.db): Promise<Namespace | undefined> {
    const row = await trx(TABLE).select(NAMESPACE_COLUMNS).where({ full_path_lower: fullPath.toLowerCase() }).first();
    return row ? toNamespace(row) : undefined;
  }

  /** The namespaces with these full paths, root first (one query for a whole ancestor chain). */
  async findByFullPaths(fullPaths: readonly string[], trx: Knex = this.db): Promise<Namespace[]> {
    if (fullPaths.length === 0) return [];
    const rows = await trx(TABLE)
      .select(NAMESPACE_COLUMNS)
      .whereIn(
        'full_path_lower',
        fullPaths.map((path) => path.toLowerCase()),
      );
    return rows.map(toNamespace).sort((a, b) => depth(a) - depth(b));
  }

  /** A user's personal namespace. */
  async findUserNamespace(ownerId: number, trx: Knex = this.db): Promise<Namespace | undefined> {
    const row = await trx(TABLE).select(NAMESPACE_COLUMNS).where({ kind: 'user', owner_id: ownerId }).first();
    return row ? toNamespace(row) : undefined;
  }

  /** The personal namespace id of each of these users that has one. */
  async userNamespaceIds(ownerIds: readonly number[], trx: Knex = this.db): Promise<Map<number, number>> {
    if (ownerIds.length === 0) return new Map();
    const rows = await trx(TABLE).select('id', 'owner_id').where({ kind: 'user' }).whereIn('owner_id', ownerIds);
    return new Map(rows.map((row) => [Number(row.owner_id), Number(row.id)]));
  }

  /** One page of the namespaces the filter keeps, by id, with the total. */
  async list(filter: NamespaceFilter, page: { offset: number; limit: number }): Promise<{ namespaces: Namespace[]; total: number }> {
    const base = this.db(TABLE).modify((q) => {
      if (filter.ids) q.whereIn('id', [...filter.ids]);
      if (filter.topLevelOnly) q.whereNull('parent_id');
      if (filter.search) {
        const pattern = `%${likeEscaped(filter.search.toLowerCase())}%`;
        if (filter.fullPathSearch) q.whereRaw(`?? like ? escape '!'`, ['full_path_lower', pattern]);
        else q.where((or) => or.whereRaw(`lower(??) like ? escape '!'`, ['path', pattern]).orWhereRaw(`lower(??) like ? escape '!'`, ['name', pattern]));
      }
    });
    const [rows, total] = await Promise.all([
      base.clone().select(NAMESPACE_COLUMNS).orderBy('id', 'asc').offset(page.offset).limit(page.limit),
      base.clone().count({ n: '*' }).first(),
    ]);
    return { namespaces: rows.map(toNamespace), total: Number(total?.n ?? 0) };
  }

  /** Whether a namespace with this path (any case) sits directly under `parentId` (top level when null). */
  async pathTakenUnder(path: string, parentId: number | null): Promise<boolean> {
    const row = await this.db(TABLE)
      .select('id')
      .whereRaw('lower(??) = ?', ['path', path.toLowerCase()])
      .modify((q) => (parentId === null ? q.whereNull('parent_id') : q.where({ parent_id: parentId })))
      .first();
    return row !== undefined;
  }

  /** The groups a user is a direct member of at `minAccess` or above. */
  async memberGroupIds(userId: number, minAccess: number): Promise<number[]> {
    const rows = await this.db('directory_members')
      .select('source_id')
      .where({ user_id: userId, source_type: 'namespace' })
      .andWhere('access_level', '>=', minAccess)
      .orderBy('source_id');
    return rows.map((row) => Number(row.source_id));
  }

  /** How many distinct users are direct members of these groups (GitLab's `members_count_with_descendants`). */
  async distinctMemberCount(namespaceIds: readonly number[]): Promise<number> {
    if (namespaceIds.length === 0) return 0;
    const row = await this.db('directory_members')
      .where({ source_type: 'namespace' })
      .whereIn('source_id', [...namespaceIds])
      .countDistinct({ n: 'user_id' })
      .first();
    return Number(row?.n ?? 0);
  }

  /** How many projects these namespaces hold. */
  async projectCount(namespaceIds: readonly number[]): Promise<number> {
    if (namespaceIds.length === 0) return 0;
    const row = await this.db('directory_projects').whereIn('namespace_id', [...namespaceIds]).count({ n: '*' }).first();
    return Number(row?.n ?? 0);
  }

  async fullPathTaken(fullPath: string, trx: Knex = this.db): Promise<boolean> {
    const row = await trx(TABLE).select('id').where({ full_path_lower: fullPath.toLowerCase() }).first();
    return row !== undefined;
  }

  /**
   * The ids of a namespace and all its descendants, level by level (one query per level, by
   * `parent_id`, so no LIKE on paths whose `_` would be a wildcard).
   */
  async selfAndDescendantIds(id: number, trx: Knex = this.db): Promise<number[]> {
    const ids = [id];
    let frontier = [id];
    while (frontier.length > 0) {
      const rows = await trx(TABLE).select('id').whereIn('parent_id', frontier);
      frontier = rows.map((row) => Number(row.id));
      ids.push(...frontier);
    }
    return ids;
  }

  /** The direct children of any of these namespaces, with their parent (one query per tree level, for callers walking down). */
  async childrenOf(parentIds: readonly number[], trx: Knex = this.db): Promise<Array<{ id: number; parentId: number }>> {
    if (parentIds.length === 0) return [];
    const rows = await trx(TABLE).select('id', 'parent_id').whereIn('parent_id', [...parentIds]);
    return rows.map((row) => ({ id: Number(row.id), parentId: Number(row.parent_id) }));
  }

  /** The distinct visibilities of a group's direct subgroups (a group may not be less visible than any). */
  async childVisibilities(parentId: number, trx: Knex = this.db): Promise<Visibility[]> {
    const rows = await trx(TABLE).distinct('visibility').where({ parent_id: parentId });
    return rows.map((row) => row.visibility as Visibility);
  }

  async insert(row: NewNamespaceRow, trx: Knex = this.db): Promise<Namespace> {
    const [inserted] = await trx(TABLE)
      .insert({
        kind: row.kind,
        name: row.name,
        path: row.path,
        full_path: row.fullPath,
        full_path_lower: row.fullPath.toLowerCase(),
        parent_id: row.parentId,
        owner_id: row.ownerId,
        description: row.description,
        visibility: row.visibility,
        code_suggestions: row.codeSuggestions,
        created_at: row.now,
        updated_at: row.now,
      })
      .returning('id');
    return (await this.findById(Number(typeof inserted === 'object' ? inserted.id : inserted), trx))!;
  }

  /**
   * Creates a user's personal namespace (GitLab's user namespace: path and full path = username, name =
   * the user's name). Called by `UsersService.create` inside its transaction, so `trx` is required. A
   * group already holding that path is a username clash (409, as UsersService words it).
   */
  async insertUserNamespace(
    user: { id: number; username: string; name: string },
    now: Date,
    trx: Knex,
    codeSuggestions = true,
  ): Promise<Namespace> {
    if (await this.fullPathTaken(user.username, trx)) throw new ServiceError(409, USERNAME_TAKEN);
    return this.insert(
      {
        kind: 'user',
        name: user.name,
        path: user.username,
        fullPath: user.username,
        parentId: null,
        ownerId: user.id,
        description: '',
        visibility: 'private',
        codeSuggestions,
        now,
      },
      trx,
    );
  }

  /**
   * Renames a user's personal namespace after a username change. A group already holding the new path
   * is a username clash (409). Returns the namespace, for moving its projects' paths along.
   */
  async renameUserNamespace(ownerId: number, username: string, now: Date, trx: Knex): Promise<Namespace | undefined> {
    const namespace = await this.findUserNamespace(ownerId, trx);
    if (!namespace || namespace.path === username) return namespace;
    const clash = await trx(TABLE).select('id').where({ full_path_lower: username.toLowerCase() }).whereNot({ id: namespace.id }).first();
    if (clash) throw new ServiceError(409, USERNAME_TAKEN);
    await trx(TABLE).where({ id: namespace.id }).update({ path: username, full_path: username, full_path_lower: username.toLowerCase(), updated_at: now });
    return { ...namespace, path: username, fullPath: username };
  }

  async update(id: number, changes: NamespaceChanges, now: Date, trx: Knex = this.db): Promise<void> {
    const row: Record<string, unknown> = { updated_at: now };
    if (changes.name !== undefined) row.name = changes.name;
    if (changes.description !== undefined) row.description = changes.description;
    if (changes.visibility !== undefined) row.visibility = changes.visibility;
    if (changes.codeSuggestions !== undefined) row.code_suggestions = changes.codeSuggestions;
    await trx(TABLE).where({ id }).update(row);
  }
}
