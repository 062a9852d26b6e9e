import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { Clock, InvalidationBus } from '../../core/plugins/types.js';
import { pepperedDigest } from '../../core/util/secrets.js';
import { addDays, utcDay } from '../../core/util/time.js';
import { PrincipalCache, type ResolvedToken } from './principal-cache.js';
import { TokensRepository, type AccessToken, type TokenFilter } from './repository.js';
import { ADMIN_ONLY_SCOPES, ALL_SCOPES } from './scopes.js';
import type { DirectoryServices, User } from './types.js';

export const TOKEN_PREFIX = 'glpat-';
/** Bus channel announcing a revoked token id to every instance's principal cache. */
export const TOKEN_REVOKED_CHANNEL = 'tokens.revoked';
/** The directory's channel for user changes (block, unblock, admin flag, deletion). */
export const USER_CHANGED_CHANNEL = 'directory.user-changed';

export const MAX_LIFETIME_DAYS = 365;
export const ROTATION_DEFAULT_DAYS = 7;
const LAST_USED_WRITE_INTERVAL_MS = 60_000;

/** A failed model validation, in GitLab's full-message form (`Expires at must be before 2027-01-01`). */
export class TokenValidationError extends Error {
  constructor(
    readonly field: string,
    readonly detail: string,
  ) {
    super(`${humanise(field)} ${detail}`);
  }
}
const humanise = (field: string) => (field.charAt(0).toUpperCase() + field.slice(1)).replace(/_/g, ' ');

/** Why authentication with a token failed. */
export type TokenProblem = 'unknown' | 'revoked' | 'expired';

export interface CreateTokenInput {
  name: string;
  scopes: readonly string[];
  /** `YYYY-MM-DD`; omitted → today + 365 days. */
  expiresAt?: string | null;
  description?: string | null;
  impersonation?: boolean;
}

export interface TokensServiceOptions {
  db: Knex;
  clock: Clock;
  bus: InvalidationBus;
  pepper: string;
  directory: DirectoryServices;
  cache: { max: number; ttlMs: number };
}

/** Personal access and impersonation tokens: create, authenticate (cached), list, revoke, rotate. */
export class TokensService {
  readonly repository: TokensRepository;
  readonly cache: PrincipalCache;
  private readonly db: Knex;
  private readonly clock: Clock;
  private readonly bus: InvalidationBus;
  private readonly pepper: string;
  readonly directory: DirectoryServices;

  constructor(options: TokensServiceOptions) {
    this.db = options.db;
    this.clock = options.clock;
    this.bus = options.bus;
    this.pepper = options.pepper;
    this.directory = options.directory;
    this.repository = new TokensRepository(options.db);
    this.cache = new PrincipalCache(options.cache);
    this.bus.subscribe(TOKEN_REVOKED_CHANNEL, (id) => this.cache.dropToken(Number(id)));
    this.bus.subscribe(USER_CHANGED_CHANNEL, (id) => this.cache.dropUser(Number(id)));
  }

  today(): string {
    return utcDay(this.clock.now());
  }

  /** `expires_at` is a day; a token expiring today is already inactive. */
  isExpired(token: Pick<AccessToken, 'expiresAt'>): boolean {
    return token.expiresAt !== null && token.expiresAt <= this.today();
  }

  isActive(token: Pick<AccessToken, 'expiresAt' | 'revoked'>): boolean {
    return !token.revoked && !this.isExpired(token);
  }

  digest(token: string): string {
    return pepperedDigest(token, this.pepper);
  }

  /**
   * Resolves a presented token to its row and user. The principal cache answers repeat requests
   * without the database; `last_used_at` is written at most once a minute.
   */
  async resolve(presented: string): Promise<ResolvedToken | TokenProblem> {
    const digest = this.digest(presented);
    let resolved = this.cache.get(digest);
    if (!resolved) {
      const token = await this.repository.findByDigest(digest);
      if (!token) return 'unknown';
      const user = await this.directory.users.findById(token.userId);
      if (!user) return 'unknown';
      resolved = { token, user };
      this.cache.set(digest, resolved);
    }
    if (resolved.token.revoked) return 'revoked';
    if (this.isExpired(resolved.token)) return 'expired';
    this.recordUse(resolved.token);
    return resolved;
  }

  private recordUse(token: AccessToken) {
    const now = this.clock.now();
    if (token.lastUsedAt && now.getTime() - token.lastUsedAt.getTime() < LAST_USED_WRITE_INTERVAL_MS) return;
    token.lastUsedAt = now;
    // Off the request path: a failed write must not fail the request it describes.
    this.repository.touch(token.id, now).catch(() => undefined);
  }

  /** The latest day a new token may expire on. */
  maxExpiry(): string {
    return addDays(this.today(), MAX_LIFETIME_DAYS);
  }

  /** GitLab's model rules for a new token. Throws TokenValidationError. */
  validate(user: User, input: CreateTokenInput): void {
    if (!input.name?.trim()) throw new TokenValidationError('name', "can't be blank");
    if (!input.scopes.length) throw new TokenValidationError('scopes', "can't be blank");
    if (input.scopes.some((scope) => !(ALL_SCOPES as readonly string[]).includes(scope))) {
      throw new TokenValidationError('scopes', 'can only contain available scopes');
    }
    if (!user.isAdmin && input.scopes.some((scope) => ADMIN_ONLY_SCOPES.includes(scope))) {
      throw new TokenValidationError('sudo', 'can only be enabled for administrators');
    }
    if (input.expiresAt && input.expiresAt > this.maxExpiry()) {
      throw new TokenValidationError('expires_at', `must be before ${this.maxExpiry()}`);
    }
    if (input.description && input.description.length > 255) {
      throw new TokenValidationError('description', 'is too long (maximum is 255 characters)');
    }
  }

  /** Creates a token; the plaintext is returned here and never again. */
  async create(user: User, input: CreateTokenInput, trx: Knex = this.db, previousId: number | null = null, given?: string) {
    const normalised = { ...input, scopes: [...new Set(input.scopes)], expiresAt: input.expiresAt === undefined ? this.maxExpiry() : input.expiresAt };
    this.validate(user, normalised);
    const plaintext = given ?? `${TOKEN_PREFIX}${randomBytes(20).toString('base64url')}`;
    const token = await this.repository.insert(
      {
        userId: user.id,
        name: normalised.name,
        description: normalised.description ?? null,
        digest: this.digest(plaintext),
        scopes: normalised.scopes,
        impersonation: normalised.impersonation ?? false,
        expiresAt: normalised.expiresAt ?? null,
        previousId,
        now: this.clock.now(),
      },
      trx,
    );
    return { token, plaintext };
  }

  findById(id: number) {
    return this.repository.findById(id);
  }

  list(filter: Omit<TokenFilter, 'today'>, page: { offset: number; limit: number }) {
    return this.repository.list({ ...filter, today: this.today() }, page);
  }

  /** Revokes a token (idempotent) and drops it from every instance's cache. */
  async revoke(token: AccessToken): Promise<void> {
    await this.repository.revoke(token.id, this.clock.now());
    this.announceRevoked([token.id]);
  }

  /**
   * Rotation: atomically revokes the old token and creates its successor (same name, description,
   * scopes, impersonation). Returns 'revoked' when the token was already revoked — then, as GitLab
   * does, the whole chain rotated from it is revoked too (a reused rotated token means a leak).
   */
  async rotate(token: AccessToken, user: User, expiresAt?: string): Promise<{ token: AccessToken; plaintext: string } | 'revoked'> {
    const now = this.clock.now();
    const outcome = await this.db.transaction(async (trx): Promise<{ revokedChain: number[] } | { created: { token: AccessToken; plaintext: string } }> => {
      if (!(await this.repository.revoke(token.id, now, trx))) {
        const descendants = await this.repository.descendantIds(token.id, trx);
        await this.repository.revokeMany(descendants, now, trx);
        return { revokedChain: descendants };
      }
      const created = await this.create(
        user,
        {
          name: token.name,
          description: token.description,
          scopes: token.scopes,
          impersonation: token.impersonation,
          expiresAt: expiresAt ?? addDays(this.today(), ROTATION_DEFAULT_DAYS),
        },
        trx,
        token.id,
      );
      return { created };
    });
    if ('revokedChain' in outcome) {
      this.announceRevoked([token.id, ...outcome.revokedChain]);
      return 'revoked';
    }
    this.announceRevoked([token.id]);
    return outcome.created;
  }

  /** A reused (already revoked) token found during authentication also revokes its descendants. */
  async revokeDescendants(token: AccessToken): Promise<void> {
    const descendants = await this.repository.descendantIds(token.id);
    if (!descendants.length) return;
    await this.repository.revokeMany(descendants, this.clock.now());
    this.announceRevoked(descendants);
  }

  private announceRevoked(ids: number[]) {
    for (const id of ids) this.bus.publish(TOKEN_REVOKED_CHANNEL, String(id));
  }
}
