import type { Knex } from 'knex';
import type { Clock } from '../../core/plugins/types.js';
import { ModelValidationError } from '../../core/errors.js';
import { KeysRepository, type KeyUsageType, type SshKey } from './keys-repository.js';
import { fingerprintOfBlob, parseKeyBlob, parseSshPublicKey } from './ssh-public-key.js';

export interface AddKeyInput {
  title: string;
  key: string;
  /** Expiry instant; a time in the past is refused (checked to the second). */
  expiresAt?: Date | null;
  usageType?: KeyUsageType;
}

/** Keys that can authenticate a git session (GitLab's `auth` scope of keys). */
export const canAuthenticate = (key: SshKey) => key.usageType === 'auth' || key.usageType === 'auth_and_signing';

/** SSH keys: parse and validate OpenSSH public keys, unique by SHA-256 fingerprint. */
export class KeysService {
  readonly repository: KeysRepository;

  constructor(
    private readonly db: Knex,
    private readonly clock: Clock,
  ) {
    this.repository = new KeysRepository(db);
  }

  findById(id: number) {
    return this.repository.findById(id);
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
   * Adds a key for a user (or a deploy key with `userId` null). Malformed, expired and duplicate keys
   * are GitLab model errors (400 `{"message":{"key":[…]}}`).
   */
  async add(userId: number | null, input: AddKeyInput, type: SshKey['type'] = 'key', trx: Knex = this.db): Promise<SshKey> {
    const parsed = parseSshPublicKey(input.key);
    if (!parsed) throw new ModelValidationError({ key: ['is invalid'], fingerprint_sha256: ['cannot be generated'] });
    const now = this.clock.now();
    if (input.expiresAt && input.expiresAt.getTime() <= now.getTime()) {
      throw new ModelValidationError({ expires_at: ['must be in the future'] });
    }
    if (!input.title.trim()) throw new ModelValidationError({ title: ["can't be blank"] });
    if (await this.repository.findByFingerprint(parsed.fingerprintSha256, trx)) {
      throw new ModelValidationError({ fingerprint_sha256: ['has already been taken'] });
    }
    return this.repository.insert(
      {
        type,
        userId,
        title: input.title,
        // Stored as given minus surrounding whitespace: the comment is the user's.
        key: input.key.trim().split(/\s+/).join(' '),
        fingerprintSha256: parsed.fingerprintSha256,
        usageType: input.usageType ?? 'auth_and_signing',
        expiresAt: input.expiresAt ?? null,
        now,
      },
      trx,
    );
  }

  remove(key: SshKey) {
    return this.repository.delete(key.id);
  }

  /** Records use of a key (GitLab Shell sessions); at most one write a minute per key. */
  async touch(key: SshKey): Promise<void> {
    const now = this.clock.now();
    if (key.lastUsedAt && now.getTime() - key.lastUsedAt.getTime() < 60_000) return;
    await this.repository.touch(key.id, now);
  }
}
