import type { Knex } from 'knex';
import { toDate } from '../../core/util/time.js';

/** A personal access or impersonation token, without its digest. */
export interface AccessToken {
  id: number;
  userId: number;
  name: string;
  description: string | null;
  scopes: string[];
  impersonation: boolean;
  revoked: boolean;
  /** UTC calendar day `YYYY-MM-DD`, or null for a token that never expires. */
  expiresAt: string | null;
  lastUsedAt: Date | null;
  previousId: number | null;
  createdAt: Date;
  updatedAt: Date;
}

export const TOKENS_TABLE = 'tokens_personal_access_tokens';
const COLUMNS = [
  'id',
  'user_id',
  'name',
  'description',
  'scopes',
  'impersonation',
  'revoked',
  'expires_at',
  'last_used_at',
  'previous_personal_access_token_id',
  'created_at',
  'updated_at',
].map((c) => `${TOKENS_TABLE}.${c}`);

export function toAccessToken(row: Record<string, unknown>): AccessToken {
  return {
    id: Number(row.id),
    userId: Number(row.user_id),
    name: String(row.name),
    description: (row.description as string | null) ?? null,
    scopes: JSON.parse(String(row.scopes)) as string[],
    impersonation: Boolean(row.impersonation),
    revoked: Boolean(row.revoked),
    expiresAt: (row.expires_at as string | null) ?? null,
    lastUsedAt: toDate(row.last_used_at),
    previousId: row.previous_personal_access_token_id == null ? null : Number(row.previous_personal_access_token_id),
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

export interface NewTokenRow {
  userId: number;
  name: string;
  description: string | null;
  digest: string;
  scopes: readonly string[];
  impersonation: boolean;
  expiresAt: string | null;
  previousId: number | null;
  now: Date;
}

/** Filters of `GET /personal_access_tokens` and the impersonation token listing. */
export interface TokenFilter {
  userId?: number;
  impersonation?: boolean;
  revoked?: boolean;
  state?: 'active' | 'inactive';
  createdBefore?: Date;
  createdAfter?: Date;
  lastUsedBefore?: Date;
  lastUsedAfter?: Date;
  expiresBefore?: string;
  expiresAfter?: string;
  search?: string;
  sort?: string;
  /** Today (UTC) for active/inactive: a token expiring today is inactive. */
  today: string;
}

const SORTS: Record<string, [string, 'asc' | 'desc']> = {
  name_asc: ['name', 'asc'],
  name_desc: ['name', 'desc'],
  created_asc: ['created_at', 'asc'],
  created_desc: ['created_at', 'desc'],
  expires_asc: ['expires_at', 'asc'],
  expires_desc: ['expires_at', 'desc'],
  last_used_asc: ['last_used_at', 'asc'],
  last_used_desc: ['last_used_at', 'desc'],
};

export class TokensRepository {
  constructor(private readonly db: Knex) {}

  async findById(id: number, trx: Knex = this.db): Promise<AccessToken | undefined> {
    const row = await trx(TOKENS_TABLE).select(COLUMNS).where({ id }).first();
    return row ? toAccessToken(row) : undefined;
  }

  async findByDigest(digest: string): Promise<AccessToken | undefined> {
    const row = await this.db(TOKENS_TABLE).select(COLUMNS).where({ token_digest: digest }).first();
    return row ? toAccessToken(row) : undefined;
  }

  async insert(row: NewTokenRow, trx: Knex = this.db): Promise<AccessToken> {
    const [inserted] = await trx(TOKENS_TABLE)
      .insert({
        user_id: row.userId,
        name: row.name,
        description: row.description,
        token_digest: row.digest,
        scopes: JSON.stringify(row.scopes),
        impersonation: row.impersonation,
        revoked: false,
        expires_at: row.expiresAt,
        previous_personal_access_token_id: row.previousId,
        created_at: row.now,
        updated_at: row.now,
      })
      .returning('id');
    return (await this.findById(Number(typeof inserted === 'object' ? inserted.id : inserted), trx))!;
  }

  /** Revokes a token unless already revoked; returns whether this call revoked it (race-safe). */
  async revoke(id: number, now: Date, trx: Knex = this.db): Promise<boolean> {
    const changed = await trx(TOKENS_TABLE).where({ id, revoked: false }).update({ revoked: true, updated_at: now });
    return changed > 0;
  }

  /** Ids of every token rotated from this one, transitively. */
  async descendantIds(id: number, trx: Knex = this.db): Promise<number[]> {
    const found: number[] = [];
    let frontier = [id];
    while (frontier.length) {
      const rows = await trx(TOKENS_TABLE).select('id').whereIn('previous_personal_access_token_id', frontier);
      frontier = rows.map((r) => Number(r.id)).filter((child) => !found.includes(child));
      found.push(...frontier);
    }
    return found;
  }

  async revokeMany(ids: number[], now: Date, trx: Knex = this.db): Promise<void> {
    if (ids.length) await trx(TOKENS_TABLE).whereIn('id', ids).update({ revoked: true, updated_at: now });
  }

  async touch(id: number, now: Date): Promise<void> {
    await this.db(TOKENS_TABLE).where({ id }).update({ last_used_at: now });
  }

  async list(filter: TokenFilter, page: { offset: number; limit: number }): Promise<{ tokens: AccessToken[]; total: number }> {
    const query = this.db(TOKENS_TABLE).modify((q) => {
      if (filter.userId !== undefined) q.where('user_id', filter.userId);
      if (filter.impersonation !== undefined) q.where('impersonation', filter.impersonation);
      if (filter.revoked !== undefined) q.where('revoked', filter.revoked);
      if (filter.state === 'active') q.where('revoked', false).andWhere((w) => w.whereNull('expires_at').orWhere('expires_at', '>', filter.today));
      if (filter.state === 'inactive') q.where((w) => w.where('revoked', true).orWhere('expires_at', '<=', filter.today));
      if (filter.createdBefore) q.where('created_at', '<=', filter.createdBefore);
      if (filter.createdAfter) q.where('created_at', '>=', filter.createdAfter);
      if (filter.lastUsedBefore) q.where('last_used_at', '<=', filter.lastUsedBefore);
      if (filter.lastUsedAfter) q.where('last_used_at', '>=', filter.lastUsedAfter);
      if (filter.expiresBefore) q.where('expires_at', '<', filter.expiresBefore);
      if (filter.expiresAfter) q.where('expires_at', '>=', filter.expiresAfter);
      if (filter.search) q.whereRaw("lower(name) like ? escape '\\'", [`%${filter.search.toLowerCase().replace(/[%_\\]/g, (c) => `\\${c}`)}%`]);
    });
    const [column, direction] = (filter.sort && SORTS[filter.sort]) || ['id', 'asc'];
    const [rows, total] = await Promise.all([
      query.clone().select(COLUMNS).orderBy(column, direction).orderBy('id', 'asc').offset(page.offset).limit(page.limit),
      query.clone().count({ n: '*' }).first(),
    ]);
    return { tokens: rows.map(toAccessToken), total: Number(total?.n ?? 0) };
  }
}
