import { toDate, isRowId, type Knex } from 'gatehouse';

export type KeyUsageType = 'auth' | 'signing' | 'auth_and_signing';
export const KEY_USAGE_TYPES = ['auth', 'signing', 'auth_and_signing'] as const;

/** An SSH key: a user's key (`key`) or a deploy key (`deploy_key`). */
export interface SshKey {
  id: number;
  type: 'key' | 'deploy_key';
  userId: number | null;
  title: string;
  key: string;
  fingerprintSha256: string;
  usageType: KeyUsageType;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  createdAt: Date;
}

const TABLE = 'directory_ssh_keys';

function toKey(row: Record<string, unknown>): SshKey {
  return {
    id: Number(row.id),
    type: row.type as SshKey['type'],
    userId: row.user_id === null ? null : Number(row.user_id),
    title: String(row.title),
    key: String(row.key),
    fingerprintSha256: String(row.fingerprint_sha256),
    usageType: row.usage_type as KeyUsageType,
    expiresAt: toDate(row.expires_at),
    lastUsedAt: toDate(row.last_used_at),
    createdAt: toDate(row.created_at),
  };
}

export interface NewKeyRow {
  type: SshKey['type'];
  userId: number | null;
  title: string;
  key: string;
  fingerprintSha256: string;
  usageType: KeyUsageType;
  expiresAt: Date | null;
  now: Date;
}

export class KeysRepository {
  constructor(private readonly db: Knex) {}

  async findById(id: number, trx: Knex = this.db): Promise<SshKey | undefined> {
    if (!isRowId(id)) return undefined;
    const row = await trx(TABLE).where({ id }).first();
    return row ? toKey(row) : undefined;
  }

  async findByFingerprint(fingerprintSha256: string, trx: Knex = this.db): Promise<SshKey | undefined> {
    const row = await trx(TABLE).where({ fingerprint_sha256: fingerprintSha256 }).first();
    return row ? toKey(row) : undefined;
  }

  async listForUser(userId: number, page: { offset: number; limit: number }): Promise<{ keys: SshKey[]; total: number }> {
    const base = this.db(TABLE).where({ user_id: userId, type: 'key' });
    const [rows, total] = await Promise.all([
      base.clone().orderBy('id', 'asc').offset(page.offset).limit(page.limit),
      base.clone().count({ n: '*' }).first(),
    ]);
    return { keys: rows.map(toKey), total: Number(total?.n ?? 0) };
  }

  async insert(row: NewKeyRow, trx: Knex = this.db): Promise<SshKey> {
    const [inserted] = await trx(TABLE)
      .insert({
        type: row.type,
        user_id: row.userId,
        title: row.title,
        key: row.key,
        fingerprint_sha256: row.fingerprintSha256,
        usage_type: row.usageType,
        expires_at: row.expiresAt,
        created_at: row.now,
      })
      .returning('id');
    return (await this.findById(Number(typeof inserted === 'object' ? inserted.id : inserted), trx))!;
  }

  async delete(id: number): Promise<void> {
    await this.db(TABLE).where({ id }).delete();
  }

  async touch(id: number, now: Date): Promise<void> {
    await this.db(TABLE).where({ id }).update({ last_used_at: now });
  }
}
