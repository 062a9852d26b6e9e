import { ModelValidationError, type Knex, type Clock } from 'gatehouse';
import { changedKey, type DirectoryCache } from './read-cache.js';
import { KeysRepository, type KeyUsageType, type SshKey } from './keys-repository.js';
import { fingerprintOfBlob, parseKeyBlob, parseSshPublicKey } from './ssh-public-key.js';

export interface AddKeyInput {
  title: string;
  key: string;
  /** Expiry instant; a time in the past is refused (checked to the second). */
  expiresAt?: Date | null;
  usageType?: KeyUsageType;
}

export const KEY_INVALID = 'is invalid';
export const KEY_EXPIRED = 'has expired';
export const FINGERPRINT_NOT_GENERATED = 'cannot be generated';
export const FINGERPRINT_TAKEN = 'has already been taken';
const CANT_BE_BLANK = "can't be blank";
const MAX_TITLE_LENGTH = 255;

/** Collects model errors per attribute, as ActiveModel's `errors` does, then throws them together. */
class FieldErrors {
  private readonly fields: Record<string, string[]> = {};
  add(field: string, message: string) {
    (this.fields[field] ??= []).push(message);
  }
  throwIfAny() {
    if (Object.keys(this.fields).length) throw new ModelValidationError(this.fields);
  }
}

/** A unique-index violation from either driver (sqlite3 `SQLITE_CONSTRAINT`, PostgreSQL `23505`). */
function isUniqueViolation(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: string; message?: string };
  return code === '23505' || (code === 'SQLITE_CONSTRAINT' && /UNIQUE/i.test(message ?? ''));
}

/** Keys that can authenticate a git session (GitLab's `auth` scope of keys). */
export const canAuthenticate = (key: SshKey) => key.usageType === 'auth' || key.usageType === 'auth_and_signing';

/** SSH keys: parse and validate OpenSSH public keys, unique by SHA-256 fingerprint. */
export class KeysService {
  readonly repository: KeysRepository;

  constructor(
    private readonly db: Knex,
    private readonly clock: Clock,
    private readonly cache: DirectoryCache,
  ) {
    this.repository = new KeysRepository(db);
  }

  findById(id: number) {
    return this.cache.get(`key:${id}`, () => this.repository.findById(id));
  }

  findByFingerprint(fingerprintSha256: string) {
    return this.repository.findByFingerprint(fingerprintSha256);
  }

  /** Finds a key by its bare base64 blob (GitLab Shell's AuthorizedKeysCommand lookup). */
  async findByBlob(base64: string): Promise<SshKey | undefined> {
    const parsed = parseKeyBlob(base64);
    return parsed ? this.repository.findByFingerprint(fingerprintOfBlob(parsed.blob)) : undefined;
  }

  listForUser(userId: number, page: { offset: number; limit: number }) {
    return this.repository.listForUser(userId, page);
  }

  isExpired(key: SshKey, now = this.clock.now()) {
    return key.expiresAt !== null && key.expiresAt.getTime() <= now.getTime();
  }

  /**
   * Adds a key for a user (or a deploy key with `userId` null). Every failed rule is reported at once,
   * in the order GitLab's `Key` model validates (title, key, fingerprint, expiry), as one model error
   * (400 `{"message":{"key":["is invalid"],…}}`).
   */
  async add(userId: number | null, input: AddKeyInput, type: SshKey['type'] = 'key', trx: Knex = this.db): Promise<SshKey> {
    const parsed = parseSshPublicKey(input.key);
    const now = this.clock.now();
    const errors = new FieldErrors();
    if (!input.title.trim()) errors.add('title', CANT_BE_BLANK);
    if (input.title.length > MAX_TITLE_LENGTH) errors.add('title', `is too long (maximum is ${MAX_TITLE_LENGTH} characters)`);
    if (!parsed) {
      errors.add('key', KEY_INVALID);
      errors.add('fingerprint_sha256', FINGERPRINT_NOT_GENERATED);
    } else if (await this.repository.findByFingerprint(parsed.fingerprintSha256, trx)) {
      errors.add('fingerprint_sha256', FINGERPRINT_TAKEN);
    }
    // GitLab's `Expirable#expired?` (`expires_at <= now`), checked to the second on create.
    if (input.expiresAt && input.expiresAt.getTime() <= now.getTime()) errors.add('key', KEY_EXPIRED);
    errors.throwIfAny();
    let key: SshKey;
    try {
      key = await this.repository.insert(
        {
          type,
          userId,
          title: input.title,
          // Stored as given minus surrounding whitespace: the comment is the user's.
          key: input.key.trim().split(/\s+/).join(' '),
          fingerprintSha256: parsed!.fingerprintSha256,
          fingerprintMd5: parsed!.fingerprintMd5,
          usageType: input.usageType ?? 'auth_and_signing',
          expiresAt: input.expiresAt ?? null,
          now,
        },
        trx,
      );
    } catch (error) {
      // Two concurrent adds of one key both pass the lookup; the unique index decides, same answer.
      if (isUniqueViolation(error)) throw new ModelValidationError({ fingerprint_sha256: [FINGERPRINT_TAKEN] });
      throw error;
    }
    // Inside a caller's transaction, the caller says what changed once it commits.
    if (trx === this.db) await this.cache.invalidate([changedKey(key.id)]);
    return key;
  }

  /** The user's own key (`type: key`) with this id; someone else's key or a deploy key is "not found". */
  async findOwned(userId: number, id: number): Promise<SshKey | undefined> {
    const key = await this.repository.findById(id);
    return key && key.type === 'key' && key.userId === userId ? key : undefined;
  }

  async remove(key: SshKey): Promise<void> {
    await this.repository.delete(key.id);
    await this.cache.invalidate([changedKey(key.id)]);
  }

  /** Records use of a key (GitLab Shell sessions); at most one write a minute per key. */
  async touch(key: SshKey): Promise<void> {
    const now = this.clock.now();
    if (key.lastUsedAt && now.getTime() - key.lastUsedAt.getTime() < 60_000) return;
    // The object may be the read cache's copy (the touch does not clear it): keep it current.
    key.lastUsedAt = now;
    await this.repository.touch(key.id, now);
  }
}
