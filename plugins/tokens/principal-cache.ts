import { LRUCache } from 'lru-cache';
import type { Principal } from '../../core/plugins/types.js';
import type { AccessToken } from './repository.js';
import type { User } from './types.js';

/** A token resolved with its user: everything authentication needs without touching the database. */
export interface ResolvedToken {
  token: AccessToken;
  user: User;
  /** The request principal for this token without `Sudo`, built on first use. */
  principal?: Principal;
}

/**
 * Bounded cache of resolved tokens keyed by token digest. Entries are dropped **immediately** when a
 * token is revoked or rotated, or its user changes (block, unblock, admin flag, deletion) — through the
 * invalidation bus, so with Redis every instance drops them. The TTL only bounds staleness for changes
 * made by another instance when no Redis connects the instances.
 *
 * A lookup that missed reads the database and then fills the cache; an invalidation arriving between
 * that read and the fill would otherwise be lost (the stale row would be cached after the drop). Each
 * drop is therefore logged with a generation number, and `setIfCurrent` refuses a fill for a token or
 * user dropped after the read began. Unrelated drops do not block fills.
 */
/** Drops remembered for racing fills; past this the log is forgotten and older fills are all refused. */
const MAX_DROP_LOG = 10_000;

export class PrincipalCache {
  private readonly entries: LRUCache<string, ResolvedToken>;
  private readonly digestsByToken = new Map<number, string>();
  private readonly digestsByUser = new Map<number, Set<string>>();
  private generationCounter = 0;
  /** `t:<token id>` / `u:<user id>` → generation of its latest drop. */
  private readonly dropLog = new Map<string, number>();
  /** Fills that began before this generation are refused (the drop log was forgotten or cleared). */
  private floor = 0;

  constructor(options: { max: number; ttlMs: number }) {
    this.entries = new LRUCache<string, ResolvedToken>({
      max: options.max,
      ttl: options.ttlMs,
      disposeAfter: (value, digest) => this.unindex(value, digest),
    });
  }

  /** Grows with every drop; capture it before reading the database, pass it to `setIfCurrent`. */
  get generation() {
    return this.generationCounter;
  }

  get(digest: string): ResolvedToken | undefined {
    return this.entries.get(digest);
  }

  /** Caches a value read from the database, unless its token or user was dropped since `generation`. */
  setIfCurrent(digest: string, value: ResolvedToken, generation: number): void {
    if (generation < this.floor) return;
    const droppedAt = Math.max(this.dropLog.get(`t:${value.token.id}`) ?? 0, this.dropLog.get(`u:${value.user.id}`) ?? 0);
    if (droppedAt > generation) return;
    this.set(digest, value);
  }

  set(digest: string, value: ResolvedToken): void {
    this.entries.set(digest, value);
    this.digestsByToken.set(value.token.id, digest);
    let forUser = this.digestsByUser.get(value.user.id);
    if (!forUser) this.digestsByUser.set(value.user.id, (forUser = new Set()));
    forUser.add(digest);
  }

  dropToken(tokenId: number): void {
    this.logDrop(`t:${tokenId}`);
    const digest = this.digestsByToken.get(tokenId);
    if (digest) this.entries.delete(digest);
  }

  dropUser(userId: number): void {
    this.logDrop(`u:${userId}`);
    for (const digest of [...(this.digestsByUser.get(userId) ?? [])]) this.entries.delete(digest);
  }

  clear(): void {
    this.generationCounter += 1;
    this.floor = this.generationCounter;
    this.dropLog.clear();
    this.entries.clear();
  }

  get size() {
    return this.entries.size;
  }

  private logDrop(key: string) {
    this.generationCounter += 1;
    this.dropLog.delete(key); // re-insert so the Map stays in drop order
    this.dropLog.set(key, this.generationCounter);
    if (this.dropLog.size > MAX_DROP_LOG) {
      this.dropLog.clear();
      this.floor = this.generationCounter;
    }
  }

  private unindex(value: ResolvedToken, digest: string) {
    // An entry replaced by a newer one for the same digest keeps its index entries.
    if (this.entries.has(digest)) return;
    if (this.digestsByToken.get(value.token.id) === digest) this.digestsByToken.delete(value.token.id);
    const forUser = this.digestsByUser.get(value.user.id);
    forUser?.delete(digest);
    if (forUser && !forUser.size) this.digestsByUser.delete(value.user.id);
  }
}
