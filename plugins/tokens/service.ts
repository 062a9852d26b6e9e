import { randomBytes } from 'node:crypto';
import { pepperedDigest, addDays, utcDayCache, createCache, type Knex, type Clock, type InvalidationBus, type Cache } from 'gatehouse';
import { TokensRepository, type AccessToken, type TokenFilter } from './repository.js';
import { ALL_SCOPES } from './scopes.js';
import type { BearerTokenResolver, DirectoryServices, ResolvedToken, User } from './types.js';

export const TOKEN_PREFIX = 'glpat-';

export const MAX_LIFETIME_DAYS = 365;
export const ROTATION_DEFAULT_DAYS = 7;
export const MAX_DESCRIPTION_LENGTH = 255;
/** The `name` column's width. GitLab's column is unbounded text; ours refuses longer names as a model error instead of failing the insert. */
export const MAX_NAME_LENGTH = 255;
const LAST_USED_WRITE_INTERVAL_MS = 60_000;

// The model's error texts (`app/models/personal_access_token.rb`), attribute first as Rails keeps them.
const CANT_BE_BLANK = "can't be blank";
const ONLY_AVAILABLE_SCOPES = 'can only contain available scopes';
const ONLY_FOR_ADMINS = 'can only be enabled for administrators';
const tooLong = (max: number) => `is too long (maximum is ${max} characters)`;
const mustBeBefore = (day: string) => `must be before ${day}`;

/** One model error: the attribute and its message (`expires_at`, `must be before 2027-11-22`). */
export type ModelError = readonly [attribute: string, message: string];

const humanise = (attribute: string) => (attribute.charAt(0).toUpperCase() + attribute.slice(1)).replace(/_/g, ' ');

/** Rails' `Array#to_sentence`: `a`, `a and b`, `a, b, and c`. */
function toSentence(parts: readonly string[]): string {
  if (parts.length <= 2) return parts.join(' and ');
  return `${parts.slice(0, -1).join(', ')}, and ${parts[parts.length - 1]}`;
}

/**
 * A failed model validation. `message` is GitLab's `errors.full_messages.to_sentence`
 * (`Expires at must be before 2027-11-22`), what the PAT services answer; `byAttribute` is the
 * `{"scopes":["can't be blank"]}` hash that `render_validation_error!` answers.
 */
export class TokenValidationError extends Error {
  constructor(readonly errors: readonly ModelError[]) {
    super(toSentence(errors.map(([attribute, message]) => `${humanise(attribute)} ${message}`)));
  }

  get byAttribute(): Record<string, string[]> {
    const grouped: Record<string, string[]> = {};
    for (const [attribute, message] of this.errors) (grouped[attribute] ??= []).push(message);
    return grouped;
  }
}

/** The outcome of looking up a presented token: its row and user, or why not (with the row when known). */
export type Resolution =
  | ({ problem?: undefined } & ResolvedToken)
  | { problem: 'unknown' }
  | { problem: 'expired'; token: AccessToken }
  | { problem: 'revoked'; token: AccessToken };

/** What an unknown token resolves to (one object: nothing in it is ever changed). */
const UNKNOWN: Resolution = Object.freeze({ problem: 'unknown' });

export interface CreateTokenInput {
  name: string;
  scopes: readonly string[];
  /** `YYYY-MM-DD`; omitted → today + 365 days; null → never expires (only for internal callers). */
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

/** The user acting on a token (after `Sudo`), as the permission rules need it. */
export interface Actor {
  id: number;
  isAdmin: boolean;
}

/** The user a token belongs to: the model rules only need who it is and whether they are an admin. */
export type Owner = Pick<User, 'id' | 'isAdmin'>;

const tokenTag = (id: number) => `token:${id}`;

/** Personal access and impersonation tokens: create, authenticate (cached), list, revoke, rotate. */
export class TokensService {
  readonly repository: TokensRepository;
  /**
   * Resolved tokens by digest, tagged with their token and user: revocation and rotation drop the
   * token's entry, and a directory write to the user (block, admin flag, deletion) drops every entry
   * built from it, on every instance before the write is answered.
   */
  readonly cache: Cache<ResolvedToken>;
  private readonly db: Knex;
  private readonly clock: Clock;
  private readonly pepper: string;
  readonly directory: DirectoryServices;
  /** Another plugin's bearer tokens (OAuth access tokens), tried before personal access tokens. */
  bearerResolver?: BearerTokenResolver;

  constructor(options: TokensServiceOptions) {
    this.db = options.db;
    this.clock = options.clock;
    this.pepper = options.pepper;
    this.directory = options.directory;
    this.repository = new TokensRepository(options.db);
    this.cache = createCache<ResolvedToken>({ name: 'tokens.principals', bus: options.bus, ...options.cache });
    // The directory's invalidations reach every instance; each follows them here, in the same turn.
    // Tags of other things (projects, keys) match no entry here and drop nothing.
    this.directory.readCache.onInvalidate((tags) => this.cache.drop(tags));
  }

  private readonly currentDay = utcDayCache(() => this.clock.now());

  /** Today (UTC), `YYYY-MM-DD`: token expiry is by calendar day. */
  /** Every scope a token may carry (GitLab's `all_available_scopes`). */
  readonly availableScopes: readonly string[] = ALL_SCOPES;

  /** Makes the `token` strategy accept another kind of bearer token (at boot, by the plugin that issues them). */
  useBearerResolver(resolver: BearerTokenResolver): void {
    this.bearerResolver = resolver;
  }

  /** Whether an error is this service's model validation error (for callers that word it their own way). */
  isModelError(error: unknown): error is TokenValidationError {
    return error instanceof TokenValidationError;
  }

  today(): string {
    return this.currentDay();
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
   * without the database; `last_used_at` is written at most once a minute. Expiry is checked before
   * revocation, as GitLab's AccessTokenValidationService does (a revoked, expired token is "expired").
   */
  resolve(presented: string): Resolution | Promise<Resolution> {
    const digest = this.digest(presented);
    const cached = this.cache.peek(digest);
    // A cached token is answered without a promise unless its use is due to be written.
    return cached ? this.check(cached) : this.load(digest);
  }

  /** A token not in the cache: read once for every request presenting it meanwhile (see `Cache.get`). */
  private load(digest: string): Promise<Resolution> {
    return this.cache
      .get(digest, () => this.read(digest), (resolved) => [tokenTag(resolved.token.id), this.directory.userCacheTag(resolved.user.id)])
      .then((resolved) => (resolved ? this.check(resolved) : UNKNOWN));
  }

  private async read(digest: string): Promise<ResolvedToken | undefined> {
    const token = await this.repository.findByDigest(digest);
    if (!token) return undefined;
    const user = await this.directory.users.findById(token.userId);
    return user ? { token, user } : undefined;
  }

  private check(resolved: ResolvedToken): Resolution | Promise<Resolution> {
    if (this.isExpired(resolved.token)) return { problem: 'expired', token: resolved.token };
    if (resolved.token.revoked) return { problem: 'revoked', token: resolved.token };
    const write = this.recordUse(resolved.token);
    return write ? write.then(() => resolved) : resolved;
  }

  /**
   * Writes `last_used_at` when the stored value is a minute old or more. Awaited, so a response (e.g.
   * `/personal_access_tokens/self`) and the database agree; it costs one write per token per minute.
   * A failed write must not fail the request it describes.
   */
  private recordUse(token: AccessToken): Promise<void> | undefined {
    const now = this.clock.now();
    // Synchronous when there is nothing to write: most requests, and no extra await on the hot path.
    if (token.lastUsedAt && now.getTime() - token.lastUsedAt.getTime() < LAST_USED_WRITE_INTERVAL_MS) return undefined;
    token.lastUsedAt = now;
    return this.repository.touch(token.id, now).catch(() => undefined);
  }

  /** The latest day a new token may expire on. */
  maxExpiry(): string {
    return addDays(this.today(), MAX_LIFETIME_DAYS);
  }

  /**
   * GitLab's model rules for a new token, every failure collected in the model's validation order
   * (name, scopes presence, description, scopes available, expiry limit, sudo). Throws TokenValidationError.
   */
  validate(owner: Owner, input: CreateTokenInput): void {
    const errors: ModelError[] = [];
    if (!input.name?.trim()) errors.push(['name', CANT_BE_BLANK]);
    if (input.name && input.name.length > MAX_NAME_LENGTH) errors.push(['name', tooLong(MAX_NAME_LENGTH)]);
    if (!input.scopes.length) errors.push(['scopes', CANT_BE_BLANK]);
    if (input.description && input.description.length > MAX_DESCRIPTION_LENGTH) errors.push(['description', tooLong(MAX_DESCRIPTION_LENGTH)]);
    if (input.scopes.some((scope) => !(ALL_SCOPES as readonly string[]).includes(scope))) errors.push(['scopes', ONLY_AVAILABLE_SCOPES]);
    if (input.expiresAt && input.expiresAt > this.maxExpiry()) errors.push(['expires_at', mustBeBefore(this.maxExpiry())]);
    if (input.scopes.includes('sudo') && !owner.isAdmin) errors.push(['sudo', ONLY_FOR_ADMINS]);
    if (errors.length) throw new TokenValidationError(errors);
  }

  /** Creates a token; the plaintext is returned here and never again. */
  async create(user: Owner, input: CreateTokenInput, trx: Knex = this.db, previousId: number | null = null, given?: string) {
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

  /** GitLab's `read_user_personal_access_tokens` / `manage_user_personal_access_token`: admins, or the owner. */
  canManage(actor: Actor, token: AccessToken): boolean {
    return actor.isAdmin || token.userId === actor.id;
  }

  /** GitLab's `revoke_token`: admins, or the owner of a token that is not an impersonation token. */
  canRevoke(actor: Actor, token: AccessToken): boolean {
    return actor.isAdmin || (token.userId === actor.id && !token.impersonation);
  }

  /** Revokes a token (idempotent) and drops it from every instance's cache. */
  async revoke(token: AccessToken): Promise<void> {
    await this.repository.revoke(token.id, this.clock.now());
    await this.announceRevoked([token.id]);
  }

  /**
   * Rotation: atomically revokes the old token and creates its successor (same name, description,
   * scopes, impersonation, owner). Returns 'revoked' when the token is already revoked — including when
   * a concurrent rotation won the race, so exactly one successor ever exists. Losing a race does not
   * revoke the winner's successor: only presenting a revoked token to authenticate does that.
   */
  async rotate(token: AccessToken, owner: Owner, expiresAt?: string): Promise<{ token: AccessToken; plaintext: string } | 'revoked'> {
    if (token.revoked) return 'revoked';
    const successor: CreateTokenInput = {
      name: token.name,
      description: token.description,
      scopes: token.scopes,
      impersonation: token.impersonation,
      expiresAt: expiresAt ?? addDays(this.today(), ROTATION_DEFAULT_DAYS),
    };
    // Validate before touching the database: a refused expiry leaves the old token as it was.
    this.validate(owner, successor);
    const now = this.clock.now();
    const created = await this.db.transaction(async (trx) => {
      if (!(await this.repository.revoke(token.id, now, trx))) return undefined;
      return this.create(owner, successor, trx, token.id);
    });
    await this.announceRevoked([token.id]);
    return created ?? 'revoked';
  }

  /** A reused (already revoked) token found during authentication also revokes its descendants. */
  async revokeDescendants(token: AccessToken): Promise<void> {
    const descendants = await this.repository.descendantIds(token.id);
    if (!descendants.length) return;
    await this.repository.revokeMany(descendants, this.clock.now());
    await this.announceRevoked(descendants);
  }

  /** After the revocation committed: every instance refuses these tokens from the next request on. */
  private announceRevoked(ids: number[]): Promise<void> {
    return this.cache.invalidate(ids.map(tokenTag));
  }
}
