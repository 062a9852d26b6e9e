import { toDate, isRowId, type Knex } from 'gatehouse';

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

/**
 * GitLab's PAT sorts (`order_<column>_<dir>_id_<dir>`): the id breaks ties in the same direction.
 * NULLs sort as PostgreSQL puts them by default (last ascending, first descending), stated explicitly
 * so SQLite orders never-used and never-expiring tokens the same way. A Map, because `sort` is user input:
 * a plain object would answer `__proto__` and `toString` with its prototype's members.
 */
const SORTS = new Map<string, { column: string; direction: 'asc' | 'desc' }>([
  ['name_asc', { column: 'name', direction: 'asc' }],
  ['name_desc', { column: 'name', direction: 'desc' }],
  ['created_asc', { column: 'created_at', direction: 'asc' }],
  ['created_desc', { column: 'created_at', direction: 'desc' }],
  ['expires_asc', { column: 'expires_at', direction: 'asc' }],
  ['expires_desc', { column: 'expires_at', direction: 'desc' }],
  ['last_used_asc', { column: 'last_used_at', direction: 'asc' }],
  ['last_used_desc', { column: 'last_used_at', direction: 'desc' }],
]);
const DEFAULT_SORT = { column: 'id', direction: 'asc' } as const;

/** GitLab's fuzzy search needs at least this many characters for a partial (substring) match. */
const MIN_CHARS_FOR_PARTIAL_MATCHING = 3;

/** `foo "bar baz"` → `['foo', 'bar baz']` (Gitlab::SQL::Pattern.split_query_to_search_terms). */
const searchTerms = (query: string) => [...query.matchAll(/"([^"]+)"|(\S+)/g)].map((m) => m[1] ?? m[2]);

/** `lower(name) like ?`, with a backslash escaping the wildcards of the user's text. */
const NAME_LIKE = "lower(name) like ? escape '\\'";
/** The width of the name column. */
const MAX_NAME_LENGTH = 255;
/** Conditions ANDed side by side at most: SQLite refuses an expression nested deeper than 1000 (a long AND chain is). */
const CONDITIONS_PER_GROUP = 100;

const likePattern = (value: string) => value.toLowerCase().replace(/[%_\\]/g, (c) => `\\${c}`);

/**
 * GitLab's `fuzzy_search(query, [:name])`: every term of three or more characters must occur in the
 * name (case-insensitive); a query without such terms must equal the whole name, case-insensitively.
 */
function applyNameSearch(q: Knex.QueryBuilder, search: string) {
  const query = search.trim().replace(/\s+/g, ' ');
  if (!query) return;
  const words = [...new Set(searchTerms(query).filter((term) => term.length >= MIN_CHARS_FOR_PARTIAL_MATCHING).map((term) => term.toLowerCase()))];
  // A name is no longer than its column, so a longer term matches nothing (and SQLite refuses very long patterns).
  const unmatchable = words.length ? words.some((word) => word.length > MAX_NAME_LENGTH) : query.length > MAX_NAME_LENGTH;
  if (unmatchable) return void q.whereRaw('1 = 0');
  // `lower(...) like ... escape` is plain SQL that SQLite and PostgreSQL read the same way.
  if (!words.length) q.whereRaw(NAME_LIKE, [likePattern(query)]);
  else whereEveryPattern(q, words.map((word) => `%${likePattern(word)}%`));
}

/** Every pattern must match, as a tree of groups so thousands of terms stay within SQLite's expression depth. */
function whereEveryPattern(q: Knex.QueryBuilder, patterns: readonly string[]): void {
  if (patterns.length <= CONDITIONS_PER_GROUP) {
    for (const pattern of patterns) q.whereRaw(NAME_LIKE, [pattern]);
    return;
  }
  const size = Math.ceil(patterns.length / CONDITIONS_PER_GROUP);
  for (let start = 0; start < patterns.length; start += size) {
    q.where((group) => whereEveryPattern(group, patterns.slice(start, start + size)));
  }
}

export class TokensRepository {
  constructor(private readonly db: Knex) {}

  async findById(id: number, trx: Knex = this.db): Promise<AccessToken | undefined> {
    if (!isRowId(id)) return undefined;
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
    if (ids.length) await trx(TOKENS_TABLE).whereIn('id', ids).where({ revoked: false }).update({ revoked: true, updated_at: now });
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
      if (filter.search) applyNameSearch(q, filter.search);
    });
    // Unknown sort values are ignored, as GitLab does; unordered listings are `id ASC` (Kaminari).
    const { column, direction } = (filter.sort && SORTS.get(filter.sort)) || DEFAULT_SORT;
    const rows = query
      .clone()
      .select(COLUMNS)
      .modify((q) => {
        if (column === 'id') return;
        // `col IS NULL` is false/0 for values on both databases, so ordering it in the sort's direction
        // puts NULLs last ascending and first descending. knex's own `nulls` option is not used: its
        // SQLite emulation ignores the direction and drops the column from the ORDER BY.
        q.orderByRaw(`?? is null ${direction}`, [column]).orderBy(column, direction);
      })
      .orderBy('id', direction)
      .offset(page.offset)
      .limit(page.limit);
    const [found, total] = await Promise.all([
      rows,
      query.clone().count({ n: '*' }).first(),
    ]);
    return { tokens: found.map(toAccessToken), total: Number(total?.n ?? 0) };
  }
}
