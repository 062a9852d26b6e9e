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
  /** `xx:xx:…` (16 pairs); null only for a key stored before MD5 fingerprints were kept. */
  fingerprintMd5: string | null;
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
    fingerprintMd5: row.fingerprint_md5 === null || row.fingerprint_md5 === undefined ? null : String(row.fingerprint_md5),
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
  fingerprintMd5: string;
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

  async findByMd5Fingerprint(fingerprintMd5: string, trx: Knex = this.db): Promise<SshKey | undefined> {
    const row = await trx(TABLE).where({ fingerprint_md5: fingerprintMd5 }).orderBy('id').first();
    return row ? toKey(row) : undefined;
  }

  /** A user's own keys (not deploy keys), for the ids of what a user's deletion takes with it. */
  async idsOfUser(userId: number, trx: Knex = this.db): Promise<number[]> {
    const rows = await trx(TABLE).select('id').where({ user_id: userId });
    return rows.map((row) => Number(row.id));
  }

  async listForUser(userId: number, page: { offset: number; limit: number }): Promise<{ keys: SshKey[]; total: number }> {
    const base = this.db(TABLE).where({ user_id: userId, type: 'key' });
    const [rows, total] = await Promise.all([
      base.clone().orderBy('id', 'asc').offset(page.offset).limit(page.limit),
      base.clone().count({ n: '*' }).first(),
    ]);
    return { keys: rows.map(toKey), total: Number(total?.n ?? 0) };
  }

  /** The projects a deploy key is enabled on (GitLab's `deploy_keys_projects`), oldest link first. */
  async deployKeyProjects(deployKeyId: number): Promise<Array<{ id: number; projectId: number; canPush: boolean; createdAt: Date }>> {
    const rows = await this.db('directory_deploy_keys_projects').where({ deploy_key_id: deployKeyId }).orderBy('id');
    return rows.map((row) => ({ id: Number(row.id), projectId: Number(row.project_id), canPush: Boolean(row.can_push), createdAt: toDate(row.created_at) }));
  }

  async insert(row: NewKeyRow, trx: Knex = this.db): Promise<SshKey> {
    const [inserted] = await trx(TABLE)
      .insert({
        type: row.type,
        user_id: row.userId,
        title: row.title,
        key: row.key,
        fingerprint_sha256: row.fingerprintSha256,
        fingerprint_md5: row.fingerprintMd5,
        usage_type: row.usageType,
        expires_at: row.expiresAt,
        created_at: row.now,
      })
      .returning('id');
    return (await this.findById(Number(typeof inserted === 'object' ? inserted.id : inserted), trx))!;
  }

  async delete(id: number, trx: Knex = this.db): Promise<void> {
    await trx(TABLE).where({ id }).delete();
  }

  async touch(id: number, now: Date): Promise<void> {
    await this.db(TABLE).where({ id }).update({ last_used_at: now });
  }
}
