import { toDate, isRowId, type Knex } from 'gatehouse';

/** A user as the directory knows it. The password hash never leaves the repository. */
export interface User {
  id: number;
  username: string;
  name: string;
  email: string;
  state: UserState;
  isAdmin: boolean;
  twoFactorEnabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export type UserState = 'active' | 'blocked' | 'deactivated';

const TABLE = 'directory_users';
const COLUMNS = ['id', 'username', 'name', 'email', 'state', 'is_admin', 'two_factor_enabled', 'created_at', 'updated_at'];

function toUser(row: Record<string, unknown>): User {
  return {
    id: Number(row.id),
    username: String(row.username),
    name: String(row.name),
    email: String(row.email),
    state: row.state as UserState,
    isAdmin: Boolean(row.is_admin),
    twoFactorEnabled: Boolean(row.two_factor_enabled),
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

export interface NewUserRow {
  username: string;
  name: string;
  email: string;
  isAdmin: boolean;
  passwordHash: string;
  now: Date;
}

export interface UserChanges {
  name?: string;
  email?: string;
  username?: string;
  isAdmin?: boolean;
  state?: UserState;
  twoFactorEnabled?: boolean;
  passwordHash?: string;
}

/** Columns a user listing may be ordered by (GitLab's `order_by` values). */
export const USER_ORDER_COLUMNS = ['id', 'name', 'username', 'created_at', 'updated_at'] as const;

export interface UserOrder {
  by: (typeof USER_ORDER_COLUMNS)[number];
  direction: 'asc' | 'desc';
}

/** GitLab lists users newest first unless told otherwise (`order_by=id`, `sort=desc`). */
export const DEFAULT_USER_ORDER: UserOrder = { by: 'id', direction: 'desc' };

export class UsersRepository {
  constructor(private readonly db: Knex) {}

  async findById(id: number, trx: Knex = this.db): Promise<User | undefined> {
    if (!isRowId(id)) return undefined;
    const row = await trx(TABLE).select(COLUMNS).where({ id }).first();
    return row ? toUser(row) : undefined;
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

  async list(
    filter: { username?: string },
    page: { offset: number; limit: number },
    order: UserOrder = DEFAULT_USER_ORDER,
  ): Promise<{ users: User[]; total: number }> {
    const base = this.db(TABLE).modify((q) => {
      if (filter.username !== undefined) q.where({ username_lower: filter.username.toLowerCase() });
    });
    const sorted = base.clone().select(COLUMNS).orderBy(order.by, order.direction);
    // Ties on a non-unique column would make pages overlap; the id breaks them (GitLab's tie breaker).
    if (order.by !== 'id') sorted.orderBy('id', order.direction);
    const [rows, total] = await Promise.all([
      sorted.offset(page.offset).limit(page.limit),
      base.clone().count({ n: '*' }).first(),
    ]);
    return { users: rows.map(toUser), total: Number(total?.n ?? 0) };
  }

  async insert(row: NewUserRow, trx: Knex = this.db): Promise<User> {
    const [inserted] = await trx(TABLE)
      .insert({
        username: row.username,
        username_lower: row.username.toLowerCase(),
        name: row.name,
        email: row.email,
        email_lower: row.email.toLowerCase(),
        state: 'active',
        is_admin: row.isAdmin,
        password_hash: row.passwordHash,
        two_factor_enabled: false,
        created_at: row.now,
        updated_at: row.now,
      })
      .returning('id');
    return (await this.findById(Number(typeof inserted === 'object' ? inserted.id : inserted), trx))!;
  }

  async update(id: number, changes: UserChanges, now: Date, trx: Knex = this.db): Promise<void> {
    const row: Record<string, unknown> = { updated_at: now };
    if (changes.name !== undefined) row.name = changes.name;
    if (changes.username !== undefined) Object.assign(row, { username: changes.username, username_lower: changes.username.toLowerCase() });
    if (changes.email !== undefined) Object.assign(row, { email: changes.email, email_lower: changes.email.toLowerCase() });
    if (changes.isAdmin !== undefined) row.is_admin = changes.isAdmin;
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
