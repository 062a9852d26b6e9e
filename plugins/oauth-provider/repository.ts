import { toDate, type Knex } from 'gatehouse';

export const SESSIONS_TABLE = 'oauth_sessions';
export const LOCKOUTS_TABLE = 'oauth_sign_in_lockouts';
export const GRANTS_TABLE = 'oauth_access_grants';
export const TOKENS_TABLE = 'oauth_access_tokens';
export const DEVICE_GRANTS_TABLE = 'oauth_device_grants';

/** A browser session (the digest of its id stays in the repository). */
export interface Session {
  id: number;
  userId: number;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
}

/** An authorization code's grant. */
export interface AccessGrant {
  id: number;
  applicationId: number;
  userId: number;
  redirectUri: string;
  scopes: string[];
  codeChallenge: string | null;
  codeChallengeMethod: string | null;
  nonce: string | null;
  authTime: Date | null;
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
}

/** An OAuth access token with its refresh token (digests not included). */
export interface OauthAccessToken {
  id: number;
  applicationId: number;
  userId: number | null;
  grantId: number | null;
  scopes: string[];
  /** Lifetime in seconds from `createdAt`; null never expires. */
  expiresIn: number | null;
  hasRefreshToken: boolean;
  createdAt: Date;
  revokedAt: Date | null;
}

/** A device authorization grant (RFC 8628). */
export interface DeviceGrant {
  id: number;
  applicationId: number;
  scopes: string[];
  userId: number | null;
  denied: boolean;
  createdAt: Date;
  expiresAt: Date;
  lastPolledAt: Date | null;
}

const scopesOf = (value: unknown) => JSON.parse(String(value)) as string[];
const idOf = (inserted: unknown) => Number(typeof inserted === 'object' && inserted ? (inserted as { id: unknown }).id : inserted);

const toSession = (row: Record<string, unknown>): Session => ({
  id: Number(row.id),
  userId: Number(row.user_id),
  createdAt: toDate(row.created_at),
  lastSeenAt: toDate(row.last_seen_at),
  expiresAt: toDate(row.expires_at),
});

const toGrant = (row: Record<string, unknown>): AccessGrant => ({
  id: Number(row.id),
  applicationId: Number(row.application_id),
  userId: Number(row.user_id),
  redirectUri: String(row.redirect_uri),
  scopes: scopesOf(row.scopes),
  codeChallenge: (row.code_challenge as string | null) ?? null,
  codeChallengeMethod: (row.code_challenge_method as string | null) ?? null,
  nonce: (row.nonce as string | null) ?? null,
  authTime: toDate(row.auth_time),
  createdAt: toDate(row.created_at),
  expiresAt: toDate(row.expires_at),
  usedAt: toDate(row.used_at),
});

const toToken = (row: Record<string, unknown>): OauthAccessToken => ({
  id: Number(row.id),
  applicationId: Number(row.application_id),
  userId: row.user_id == null ? null : Number(row.user_id),
  grantId: row.grant_id == null ? null : Number(row.grant_id),
  scopes: scopesOf(row.scopes),
  expiresIn: row.expires_in == null ? null : Number(row.expires_in),
  hasRefreshToken: row.has_refresh != null && Boolean(Number(row.has_refresh)),
  createdAt: toDate(row.created_at),
  revokedAt: toDate(row.revoked_at),
});

const toDeviceGrant = (row: Record<string, unknown>): DeviceGrant => ({
  id: Number(row.id),
  applicationId: Number(row.application_id),
  scopes: scopesOf(row.scopes),
  userId: row.user_id == null ? null : Number(row.user_id),
  denied: Boolean(row.denied),
  createdAt: toDate(row.created_at),
  expiresAt: toDate(row.expires_at),
  lastPolledAt: toDate(row.last_polled_at),
});

const SESSION_COLUMNS = ['id', 'user_id', 'created_at', 'last_seen_at', 'expires_at'];
const GRANT_COLUMNS = ['id', 'application_id', 'user_id', 'redirect_uri', 'scopes', 'code_challenge', 'code_challenge_method', 'nonce', 'auth_time', 'created_at', 'expires_at', 'used_at'];
const DEVICE_COLUMNS = ['id', 'application_id', 'scopes', 'user_id', 'denied', 'created_at', 'expires_at', 'last_polled_at'];

export interface NewTokenRow {
  digest: string;
  refreshDigest: string | null;
  applicationId: number;
  userId: number | null;
  grantId: number | null;
  scopes: readonly string[];
  expiresIn: number | null;
  now: Date;
}

/** The provider's SQL: sessions, lockouts, grants, tokens and device grants. */
export class ProviderRepository {
  constructor(private readonly db: Knex) {}

  private tokenColumns(db: Knex) {
    return [
      `${TOKENS_TABLE}.id`,
      'application_id',
      'user_id',
      'grant_id',
      'scopes',
      'expires_in',
      'created_at',
      'revoked_at',
      db.raw('case when refresh_digest is null then 0 else 1 end as has_refresh'),
    ];
  }

  // --- sessions -------------------------------------------------------------------------------------

  async insertSession(row: { digest: string; userId: number; now: Date; expiresAt: Date; ip: string }): Promise<Session> {
    const [inserted] = await this.db(SESSIONS_TABLE)
      .insert({ digest: row.digest, user_id: row.userId, created_at: row.now, last_seen_at: row.now, expires_at: row.expiresAt, ip: row.ip.slice(0, 64) })
      .returning('id');
    return { id: idOf(inserted), userId: row.userId, createdAt: row.now, lastSeenAt: row.now, expiresAt: row.expiresAt };
  }

  async findSession(digest: string): Promise<Session | undefined> {
    const row = await this.db(SESSIONS_TABLE).select(SESSION_COLUMNS).where({ digest }).first();
    return row ? toSession(row) : undefined;
  }

  async touchSession(id: number, now: Date): Promise<void> {
    await this.db(SESSIONS_TABLE).where({ id }).update({ last_seen_at: now });
  }

  async deleteSession(id: number): Promise<void> {
    await this.db(SESSIONS_TABLE).where({ id }).delete();
  }

  /** Deletes a user's sessions past their absolute expiry (rows idle too long go when next presented). */
  async deleteExpiredSessionsOf(userId: number, now: Date): Promise<void> {
    await this.db(SESSIONS_TABLE).where({ user_id: userId }).where('expires_at', '<=', now).delete();
  }

  /** Deletes codes and device grants that expired before `before`: nothing can use them any more. */
  async pruneExpiredGrants(before: Date): Promise<void> {
    await this.db(GRANTS_TABLE).where('expires_at', '<', before).delete();
    await this.db(DEVICE_GRANTS_TABLE).where('expires_at', '<', before).delete();
  }

  async deleteSessionsOf(userId: number): Promise<number> {
    return this.db(SESSIONS_TABLE).where({ user_id: userId }).delete();
  }

  // --- lockouts -------------------------------------------------------------------------------------

  async lockoutOf(userId: number): Promise<{ failedAttempts: number; lockedAt: Date | null }> {
    const row = await this.db(LOCKOUTS_TABLE).select('failed_attempts', 'locked_at').where({ user_id: userId }).first();
    return { failedAttempts: Number(row?.failed_attempts ?? 0), lockedAt: toDate(row?.locked_at) };
  }

  /** Counts one failed attempt atomically; locks the account when the count reaches `max`. Returns the count. */
  async recordFailure(userId: number, max: number, now: Date): Promise<number> {
    return this.db.transaction(async (trx) => {
      // Concurrent first failures: one insert wins, the others find its row; each then counts once.
      await trx(LOCKOUTS_TABLE).insert({ user_id: userId, failed_attempts: 0, locked_at: null }).onConflict('user_id').ignore();
      await trx(LOCKOUTS_TABLE).where({ user_id: userId }).increment('failed_attempts', 1);
      const row = await trx(LOCKOUTS_TABLE).select('failed_attempts', 'locked_at').where({ user_id: userId }).first();
      const count = Number(row.failed_attempts);
      if (count >= max && !row.locked_at) await trx(LOCKOUTS_TABLE).where({ user_id: userId }).update({ locked_at: now });
      return count;
    });
  }

  async resetLockout(userId: number): Promise<void> {
    await this.db(LOCKOUTS_TABLE).where({ user_id: userId }).delete();
  }

  // --- authorization codes --------------------------------------------------------------------------

  async insertGrant(row: Omit<AccessGrant, 'id' | 'usedAt'> & { digest: string }): Promise<number> {
    const [inserted] = await this.db(GRANTS_TABLE)
      .insert({
        digest: row.digest,
        application_id: row.applicationId,
        user_id: row.userId,
        redirect_uri: row.redirectUri,
        scopes: JSON.stringify(row.scopes),
        code_challenge: row.codeChallenge,
        code_challenge_method: row.codeChallengeMethod,
        nonce: row.nonce,
        auth_time: row.authTime,
        created_at: row.createdAt,
        expires_at: row.expiresAt,
      })
      .returning('id');
    return idOf(inserted);
  }

  async findGrant(digest: string): Promise<AccessGrant | undefined> {
    const row = await this.db(GRANTS_TABLE).select(GRANT_COLUMNS).where({ digest }).first();
    return row ? toGrant(row) : undefined;
  }

  /** Marks a code used; false when another request used it first (the one conditional update decides). */
  async useGrant(id: number, now: Date, trx: Knex = this.db): Promise<boolean> {
    return (await trx(GRANTS_TABLE).where({ id }).whereNull('used_at').update({ used_at: now })) > 0;
  }

  // --- access tokens --------------------------------------------------------------------------------

  async insertToken(row: NewTokenRow, trx: Knex = this.db): Promise<OauthAccessToken> {
    const [inserted] = await trx(TOKENS_TABLE)
      .insert({
        digest: row.digest,
        refresh_digest: row.refreshDigest,
        application_id: row.applicationId,
        user_id: row.userId,
        grant_id: row.grantId,
        scopes: JSON.stringify(row.scopes),
        expires_in: row.expiresIn,
        created_at: row.now,
      })
      .returning('id');
    return {
      id: idOf(inserted),
      applicationId: row.applicationId,
      userId: row.userId,
      grantId: row.grantId,
      scopes: [...row.scopes],
      expiresIn: row.expiresIn,
      hasRefreshToken: row.refreshDigest !== null,
      createdAt: row.now,
      revokedAt: null,
    };
  }

  async findTokenByDigest(digest: string): Promise<OauthAccessToken | undefined> {
    const row = await this.db(TOKENS_TABLE).select(this.tokenColumns(this.db)).where({ digest }).first();
    return row ? toToken(row) : undefined;
  }

  async findTokenByRefreshDigest(digest: string): Promise<OauthAccessToken | undefined> {
    const row = await this.db(TOKENS_TABLE).select(this.tokenColumns(this.db)).where({ refresh_digest: digest }).first();
    return row ? toToken(row) : undefined;
  }

  /** Revokes one token (access and refresh together); false when it already was. */
  async revokeToken(id: number, now: Date, trx: Knex = this.db): Promise<boolean> {
    return (await trx(TOKENS_TABLE).where({ id }).whereNull('revoked_at').update({ revoked_at: now })) > 0;
  }

  /** Revokes every live token matching `where`; returns the ids it revoked. */
  async revokeTokensWhere(where: { application_id?: number; user_id?: number; grant_id?: number }, now: Date): Promise<number[]> {
    return this.db.transaction(async (trx) => {
      const rows = await trx(TOKENS_TABLE).select('id').where(where).whereNull('revoked_at');
      const ids = rows.map((row) => Number(row.id));
      if (ids.length) await trx(TOKENS_TABLE).whereIn('id', ids).update({ revoked_at: now });
      return ids;
    });
  }

  /** The applications a user holds live (non-revoked) tokens of, with the first time they authorized each. */
  async authorizedApplicationIds(userId: number): Promise<Array<{ applicationId: number; since: Date }>> {
    const rows = await this.db(TOKENS_TABLE)
      .select('application_id')
      .min({ since: 'created_at' })
      .where({ user_id: userId })
      .whereNull('revoked_at')
      .groupBy('application_id')
      .orderBy('application_id');
    return rows.map((row: Record<string, unknown>) => ({ applicationId: Number(row.application_id), since: toDate(row.since) }));
  }

  /** Ids of every token of an application (deleting the application removes them with it). */
  async tokenIdsOfApplication(applicationId: number): Promise<number[]> {
    return (await this.db(TOKENS_TABLE).select('id').where({ application_id: applicationId })).map((row) => Number(row.id));
  }

  /** Whether the user already holds a non-revoked token (expired ones count) for the app with exactly these scopes. */
  async hasMatchingToken(applicationId: number, userId: number, scopes: readonly string[]): Promise<boolean> {
    const rows = await this.db(TOKENS_TABLE).select('scopes').where({ application_id: applicationId, user_id: userId }).whereNull('revoked_at');
    const wanted = [...new Set(scopes)].sort().join(' ');
    return rows.some((row) => [...new Set(scopesOf(row.scopes))].sort().join(' ') === wanted);
  }

  // --- device grants --------------------------------------------------------------------------------

  async insertDeviceGrant(row: { digest: string; userCodeDigest: string; applicationId: number; scopes: readonly string[]; now: Date; expiresAt: Date }): Promise<number> {
    const [inserted] = await this.db(DEVICE_GRANTS_TABLE)
      .insert({
        digest: row.digest,
        user_code_digest: row.userCodeDigest,
        application_id: row.applicationId,
        scopes: JSON.stringify(row.scopes),
        created_at: row.now,
        expires_at: row.expiresAt,
      })
      .returning('id');
    return idOf(inserted);
  }

  async findDeviceGrant(digest: string): Promise<DeviceGrant | undefined> {
    const row = await this.db(DEVICE_GRANTS_TABLE).select(DEVICE_COLUMNS).where({ digest }).first();
    return row ? toDeviceGrant(row) : undefined;
  }

  async findDeviceGrantByUserCode(userCodeDigest: string): Promise<DeviceGrant | undefined> {
    const row = await this.db(DEVICE_GRANTS_TABLE).select(DEVICE_COLUMNS).where({ user_code_digest: userCodeDigest }).first();
    return row ? toDeviceGrant(row) : undefined;
  }

  /** Records the user's decision once: false when it was already decided. */
  async decideDeviceGrant(id: number, decision: { userId: number } | 'denied'): Promise<boolean> {
    const values = decision === 'denied' ? { denied: true } : { user_id: decision.userId };
    return (await this.db(DEVICE_GRANTS_TABLE).where({ id, denied: false }).whereNull('user_id').update(values)) > 0;
  }

  async recordPoll(id: number, now: Date): Promise<void> {
    await this.db(DEVICE_GRANTS_TABLE).where({ id }).update({ last_polled_at: now });
  }

  /** Deletes a device grant; false when another poll consumed it first. */
  async deleteDeviceGrant(id: number, trx: Knex = this.db): Promise<boolean> {
    return (await trx(DEVICE_GRANTS_TABLE).where({ id }).delete()) > 0;
  }
}
