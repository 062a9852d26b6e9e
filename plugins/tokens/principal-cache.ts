import { LRUCache } from 'lru-cache';
import type { AccessToken } from './repository.js';
import type { User } from './types.js';

/** A token resolved with its user: everything authentication needs without touching the database. */
export interface ResolvedToken {
  token: AccessToken;
  user: User;
}

/**
 * Bounded cache of resolved tokens keyed by token digest. Entries are dropped **immediately** when a
 * token is revoked or rotated, or its user changes (block, unblock, admin flag, deletion) — through the
 * invalidation bus, so with Redis every instance drops them. The TTL only bounds staleness for changes
 * made by another instance when no Redis connects the instances.
 */
export class PrincipalCache {
  private readonly entries: LRUCache<string, ResolvedToken>;
  private readonly digestsByToken = new Map<number, string>();
  private readonly digestsByUser = new Map<number, Set<string>>();

  constructor(options: { max: number; ttlMs: number }) {
    this.entries = new LRUCache<string, ResolvedToken>({
      max: options.max,
      ttl: options.ttlMs,
      disposeAfter: (value, digest) => this.unindex(value, digest),
    });
  }

  get(digest: string): ResolvedToken | undefined {
    return this.entries.get(digest);
  }

  set(digest: string, value: ResolvedToken): void {
    this.entries.set(digest, value);
    this.digestsByToken.set(value.token.id, digest);
    let forUser = this.digestsByUser.get(value.user.id);
    if (!forUser) this.digestsByUser.set(value.user.id, (forUser = new Set()));
    forUser.add(digest);
  }

  dropToken(tokenId: number): void {
    const digest = this.digestsByToken.get(tokenId);
    if (digest) this.entries.delete(digest);
  }

  dropUser(userId: number): void {
    for (const digest of [...(this.digestsByUser.get(userId) ?? [])]) this.entries.delete(digest);
  }

  clear(): void {
    this.entries.clear();
  }

  get size() {
    return this.entries.size;
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
