import { toDate, isRowId, type Knex } from 'gatehouse';

/** A user as the directory knows it. The password hash never leaves the repository. */
export interface User {
  id: number;
  username: string;
  name: string;
  email: string;
  /** The email shown to everyone (GitLab's `public_email`); null when the user shows none. */
  publicEmail: string | null;
  state: UserState;
  isAdmin: boolean;
  /** External users see only public projects and groups, or those they are members of. */
  external: boolean;
  twoFactorEnabled: boolean;
  /** The admins' note on this user (GitLab's `note`). */
  note: string | null;
  /** The admin who created this user through the API, when known. */
  createdById: number | null;
  confirmedAt: Date | null;
  projectsLimit: number;
  canCreateGroup: boolean;
  /** Devise's trackable: this sign-in, the one before it, and how many there were (web sign-ins only). */
  currentSignInAt: Date | null;
  lastSignInAt: Date | null;
  currentSignInIp: string | null;
  lastSignInIp: string | null;
  signInCount: number;
  createdAt: Date;
  updatedAt: Date;
}

export type UserState = 'active' | 'blocked' | 'deactivated';

const TABLE = 'directory_users';
const COLUMNS = [
  'id',
  'username',
  'name',
  'email',
  'public_email',
  'state',
  'is_admin',
  'external',
  'two_factor_enabled',
  'note',
  'created_by_id',
  'confirmed_at',
  'projects_limit',
  'can_create_group',
  'current_sign_in_at',
  'last_sign_in_at',
  'current_sign_in_ip',
  'last_sign_in_ip',
  'sign_in_count',
  'created_at',
  'updated_at',
].map((column) => `${TABLE}.${column}`);

const nullableString = (value: unknown) => (value === null || value === undefined ? null : String(value));

function toUser(row: Record<string, unknown>): User {
  return {
    id: Number(row.id),
    username: String(row.username),
    name: String(row.name),
    email: String(row.email),
    publicEmail: nullableString(row.public_email),
    state: row.state as UserState,
    isAdmin: Boolean(row.is_admin),
    external: Boolean(row.external),
    twoFactorEnabled: Boolean(row.two_factor_enabled),
    note: nullableString(row.note),
    createdById: row.created_by_id === null || row.created_by_id === undefined ? null : Number(row.created_by_id),
    confirmedAt: toDate(row.confirmed_at),
    projectsLimit: Number(row.projects_limit ?? 0),
    canCreateGroup: Boolean(row.can_create_group),
    currentSignInAt: row.current_sign_in_at ? toDate(row.current_sign_in_at) : null,
    lastSignInAt: row.last_sign_in_at ? toDate(row.last_sign_in_at) : null,
    currentSignInIp: nullableString(row.current_sign_in_ip),
    lastSignInIp: nullableString(row.last_sign_in_ip),
    signInCount: Number(row.sign_in_count ?? 0),
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

export interface NewUserRow {
  username: string;
  name: string;
  email: string;
  publicEmail?: string | null;
  isAdmin: boolean;
  external?: boolean;
  note?: string | null;
  createdById?: number | null;
  passwordHash: string;
  now: Date;
}

export interface UserChanges {
  name?: string;
  email?: string;
  /** null clears it. */
  publicEmail?: string | null;
  username?: string;
  isAdmin?: boolean;
  external?: boolean;
  note?: string | null;
  state?: UserState;
  twoFactorEnabled?: boolean;
  passwordHash?: string;
}

/** Columns a user listing may be ordered by (GitLab's `order_by` values). */
export const USER_ORDER_COLUMNS = ['id', 'name', 'username', 'created_at', 'updated_at'] as const;
export type UserOrderColumn = (typeof USER_ORDER_COLUMNS)[number];

export interface UserOrder {
  by: UserOrderColumn;
  direction: 'asc' | 'desc';
}

/** GitLab lists users newest first unless told otherwise (`order_by=id`, `sort=desc`). */
export const DEFAULT_USER_ORDER: UserOrder = { by: 'id', direction: 'desc' };

/**
 * Which users a listing keeps (GitLab's UsersFinder). Every field narrows; `empty` answers nothing at
 * all (a filter that no user here can match, such as `exclude_humans`).
 */
export interface UserFilter {
  username?: string;
  /** Name, username or public email; `searchEmails` adds the primary email (admins only). */
  search?: string;
  searchEmails?: boolean;
  publicEmail?: string;
  /** Only these states. */
  states?: readonly UserState[];
  /** Never these states. */
  withoutStates?: readonly UserState[];
  external?: boolean;
  admins?: boolean;
  createdAfter?: Date;
  createdBefore?: Date;
  twoFactor?: boolean;
  /** Users who are members of no project. */
  withoutProjects?: boolean;
  empty?: boolean;
}

/** A keyset position: the order column's value and the id of the row it was read from. */
export interface UserCursor {
  value: string | number | Date;
  id: number;
}

/** `%`, `_` and the escape character itself, escaped for `LIKE … ESCAPE '!'`. */
const likeEscaped = (text: string) => text.replace(/[!%_]/g, (c) => `!${c}`);

/**
 * More distinct search words than a name or username of 255 characters holds in practice; past it the
 * query would only grow the SQL (SQLite refuses expressions nested a thousand deep), so such a search
 * matches no name or username.
 */
const MAX_SEARCH_WORDS = 64;

/** GitLab's fuzzy search: each word of three or more characters must appear in the column (case-insensitive). */
function searchUsers(q: Knex.QueryBuilder, search: string, searchEmails: boolean) {
  const query = search.replace(/^@/, '').trim().toLowerCase();
  const words = [...new Set(query.split(/\s+/).filter((word) => word.length >= 3))];
  q.where((or) => {
    or.whereRaw('lower(??) = ?', [`${TABLE}.public_email`, query]);
    if (searchEmails) or.orWhere(`${TABLE}.email_lower`, query);
    if (words.length > MAX_SEARCH_WORDS) return;
    for (const column of ['name', 'username']) {
      if (words.length === 0) {
        or.orWhereRaw('lower(??) = ?', [`${TABLE}.${column}`, query]);
      } else {
        or.orWhere((all) => {
          for (const word of words) all.whereRaw(`lower(??) like ? escape '!'`, [`${TABLE}.${column}`, `%${likeEscaped(word)}%`]);
        });
      }
    }
  });
}

function applyFilter(q: Knex.QueryBuilder, filter: UserFilter) {
  if (filter.empty) q.whereRaw('1 = 0');
  if (filter.username !== undefined) q.where(`${TABLE}.username_lower`, filter.username.toLowerCase());
  if (filter.search !== undefined && filter.search !== '') searchUsers(q, filter.search, filter.searchEmails ?? false);
  if (filter.publicEmail !== undefined) q.whereRaw('lower(??) = ?', [`${TABLE}.public_email`, filter.publicEmail.toLowerCase()]);
  if (filter.states) q.whereIn(`${TABLE}.state`, filter.states);
  if (filter.withoutStates) q.whereNotIn(`${TABLE}.state`, filter.withoutStates);
  if (filter.external !== undefined) q.where(`${TABLE}.external`, filter.external);
  if (filter.admins) q.where(`${TABLE}.is_admin`, true);
  if (filter.createdAfter) q.where(`${TABLE}.created_at`, '>=', filter.createdAfter);
  if (filter.createdBefore) q.where(`${TABLE}.created_at`, '<=', filter.createdBefore);
  if (filter.twoFactor !== undefined) q.where(`${TABLE}.two_factor_enabled`, filter.twoFactor);
  if (filter.withoutProjects) {
    q.whereNotExists((sub) =>
      sub.select('id').from('directory_members').where('directory_members.source_type', 'project').whereRaw('?? = ??', ['directory_members.user_id', `${TABLE}.id`]),
    );
  }
}

/** GitLab's search ranking: exact public email, then exact username, then exact name, then the rest by name. */
function orderBySearchPriority(q: Knex.QueryBuilder, search: string) {
  const query = search.replace(/^@/, '').trim().toLowerCase();
  q.orderByRaw('case when lower(??) = ? then 0 when ?? = ? then 1 when lower(??) = ? then 2 else 3 end', [
    `${TABLE}.public_email`,
    query,
    `${TABLE}.username_lower`,
    query,
    `${TABLE}.name`,
    query,
  ]);
  q.orderBy(`${TABLE}.name`, 'asc').orderBy(`${TABLE}.id`, 'asc');
}

export class UsersRepository {
  constructor(private readonly db: Knex) {}

  async findById(id: number, trx: Knex = this.db): Promise<User | undefined> {
    if (!isRowId(id)) return undefined;
    const row = await trx(TABLE).select(COLUMNS).where({ [`${TABLE}.id`]: id }).first();
    return row ? toUser(row) : undefined;
  }

  async findByIds(ids: readonly number[], trx: Knex = this.db): Promise<User[]> {
    if (ids.length === 0) return [];
    const rows = await trx(TABLE).select(COLUMNS).whereIn(`${TABLE}.id`, ids.filter(isRowId));
    return rows.map(toUser);
  }

  async findByUsername(username: string, trx: Knex = this.db): Promise<User | undefined> {
    const row = await trx(TABLE).select(COLUMNS).where({ username_lower: username.toLowerCase() }).first();
    return row ? toUser(row) : undefined;
  }

  async findByEmail(email: string, trx: Knex = this.db): Promise<User | undefined> {
    const row = await trx(TABLE).select(COLUMNS).where({ email_lower: email.toLowerCase() }).first();
    return row ? toUser(row) : undefined;
  }

  async count(trx: Knex = this.db): Promise<number> {
    const row = await trx(TABLE).count({ n: '*' }).first();
    return Number(row?.n ?? 0);
  }

  /** One offset page of the users the filter keeps, in `order` (or by search priority), with the total. */
  async list(
    filter: UserFilter,
    page: { offset: number; limit: number },
    order: UserOrder | 'search' = DEFAULT_USER_ORDER,
  ): Promise<{ users: User[]; total: number }> {
    const base = this.db(TABLE).modify((q) => applyFilter(q, filter));
    const sorted = base.clone().select(COLUMNS);
    if (order === 'search') orderBySearchPriority(sorted, filter.search ?? '');
    else {
      sorted.orderBy(`${TABLE}.${order.by}`, order.direction);
      // Ties on a non-unique column would make pages overlap; the id breaks them (GitLab's tie breaker).
      if (order.by !== 'id') sorted.orderBy(`${TABLE}.id`, order.direction);
    }
    const [rows, total] = await Promise.all([sorted.offset(page.offset).limit(page.limit), base.clone().count({ n: '*' }).first()]);
    return { users: rows.map(toUser), total: Number(total?.n ?? 0) };
  }

  /**
   * Up to `limit` users the filter keeps, in `order`, strictly after `after` (or from the start);
   * `backwards` reads the rows before `after` instead, returned in `order` all the same.
   * One more row than asked is read to tell whether the list goes on.
   */
  async listKeyset(
    filter: UserFilter,
    order: UserOrder,
    limit: number,
    after?: UserCursor,
    backwards = false,
  ): Promise<{ users: User[]; more: boolean }> {
    const forward = backwards ? (order.direction === 'asc' ? 'desc' : 'asc') : order.direction;
    const comparison = forward === 'asc' ? '>' : '<';
    const column = `${TABLE}.${order.by}`;
    const query = this.db(TABLE)
      .select(COLUMNS)
      .modify((q) => applyFilter(q, filter))
      .orderBy(column, forward);
    if (order.by !== 'id') query.orderBy(`${TABLE}.id`, forward);
    if (after) {
      if (order.by === 'id') query.where(`${TABLE}.id`, comparison, after.id);
      else {
        query.where((q) =>
          q.where(column, comparison, after.value).orWhere((tie) => tie.where(column, after.value).where(`${TABLE}.id`, comparison, after.id)),
        );
      }
    }
    const rows = await query.limit(limit + 1);
    const users = rows.slice(0, limit).map(toUser);
    return { users: backwards ? users.reverse() : users, more: rows.length > limit };
  }

  /** The user's highest access level in any group or project (GitLab's `highest_role`; 0 = none). */
  async highestRole(userId: number): Promise<number> {
    const row = await this.db('directory_members').max({ level: 'access_level' }).where({ user_id: userId }).first();
    return Number(row?.level ?? 0);
  }

  async insert(row: NewUserRow, trx: Knex = this.db): Promise<User> {
    const [inserted] = await trx(TABLE)
      .insert({
        username: row.username,
        username_lower: row.username.toLowerCase(),
        name: row.name,
        email: row.email,
        email_lower: row.email.toLowerCase(),
        public_email: row.publicEmail ?? null,
        state: 'active',
        is_admin: row.isAdmin,
        external: row.external ?? false,
        note: row.note ?? null,
        created_by_id: row.createdById ?? null,
        // There is no email confirmation step here: a user is confirmed when created.
        confirmed_at: row.now,
        password_hash: row.passwordHash,
        two_factor_enabled: false,
        created_at: row.now,
        updated_at: row.now,
      })
      .returning('id');
    return (await this.findById(Number(typeof inserted === 'object' ? inserted.id : inserted), trx))!;
  }

  /**
   * Devise's trackable on a sign-in, in one statement so concurrent sign-ins each count: the previous
   * sign-in becomes the last one (this one, on the first), this one the current.
   */
  async recordSignIn(id: number, ip: string, now: Date): Promise<void> {
    await this.db(TABLE)
      .where({ id })
      .update({
        last_sign_in_at: this.db.raw('coalesce(??, ?)', ['current_sign_in_at', now]),
        last_sign_in_ip: this.db.raw('coalesce(??, ?)', ['current_sign_in_ip', ip]),
        current_sign_in_at: now,
        current_sign_in_ip: ip,
        sign_in_count: this.db.raw('?? + 1', ['sign_in_count']),
        updated_at: now,
      });
  }

  async update(id: number, changes: UserChanges, now: Date, trx: Knex = this.db): Promise<void> {
    const row: Record<string, unknown> = { updated_at: now };
    if (changes.name !== undefined) row.name = changes.name;
    if (changes.username !== undefined) Object.assign(row, { username: changes.username, username_lower: changes.username.toLowerCase() });
    if (changes.email !== undefined) Object.assign(row, { email: changes.email, email_lower: changes.email.toLowerCase() });
    if (changes.publicEmail !== undefined) row.public_email = changes.publicEmail;
    if (changes.isAdmin !== undefined) row.is_admin = changes.isAdmin;
    if (changes.external !== undefined) row.external = changes.external;
    if (changes.note !== undefined) row.note = changes.note;
    if (changes.state !== undefined) row.state = changes.state;
    if (changes.twoFactorEnabled !== undefined) row.two_factor_enabled = changes.twoFactorEnabled;
    if (changes.passwordHash !== undefined) row.password_hash = changes.passwordHash;
    await trx(TABLE).where({ id }).update(row);
  }

  async passwordHashOf(id: number): Promise<string | null> {
    const row = await this.db(TABLE).select('password_hash').where({ id }).first();
    return (row?.password_hash as string | null) ?? null;
  }

  async delete(id: number, trx: Knex = this.db): Promise<void> {
    await trx(TABLE).where({ id }).delete();
  }

  async replaceRecoveryCodes(userId: number, digests: string[], now: Date, trx: Knex): Promise<void> {
    await trx('directory_recovery_codes').where({ user_id: userId }).delete();
    await trx('directory_recovery_codes').insert(digests.map((code_digest) => ({ user_id: userId, code_digest, created_at: now })));
  }

  /** Deletes one recovery code of a user; false when it was not theirs or already used (one statement: used once). */
  async deleteRecoveryCode(userId: number, digest: string): Promise<boolean> {
    return (await this.db('directory_recovery_codes').where({ user_id: userId, code_digest: digest }).delete()) > 0;
  }

  async recoveryCodeDigests(userId: number): Promise<string[]> {
    const rows = await this.db('directory_recovery_codes').select('code_digest').where({ user_id: userId }).orderBy('id');
    return rows.map((r) => String(r.code_digest));
  }
}
