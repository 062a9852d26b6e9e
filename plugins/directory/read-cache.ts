import { LRUCache } from 'lru-cache';
import type { Knex } from 'knex';
import type { InvalidationBus } from '../../core/plugins/types.js';

/** Bus channel on which an instance tells the others that directory data changed. */
export const DIRECTORY_CHANGED_CHANNEL = 'directory.changed';

/** Statements that change directory data, as knex reports them (both SQL dialects' quoting). */
const DIRECTORY_WRITE = /^\s*(insert\s+into|update|delete\s+from|truncate)\s+[`"]?directory_/i;
/** Recording when a key was last used changes nothing any cached decision depends on. */
const KEY_TOUCH = /^\s*update\s+[`"]?directory_ssh_keys[`"]?\s+set\s+[`"]?last_used_at[`"]?\s*=\s*\?\s+where\s+[`"]?id[`"]?\s*=\s*\?\s*$/i;
/** A commit may publish another connection's writes (PostgreSQL): what a reader cached meanwhile is dropped. */
const TRANSACTION_END = /^\s*(commit|rollback)\b/i;

/** Derived entries live in the same LRU as the reads, under their own prefix. */
const DERIVED = 'derived:';

/**
 * Values a dependant computes from directory reads (e.g. a whole `/internal/allowed` answer), kept
 * exactly as long as the reads they came from: any directory write drops them, as it drops the reads.
 */
export interface DerivedCache {
  /** Bumped by every clear. Take it before reading what a value is derived from. */
  readonly generation: number;
  /** A remembered value, synchronously. */
  peek<T>(key: string): T | undefined;
  /** Remembers `value` unless the directory changed since `since` (the generation taken before reading). */
  remember<T>(key: string, value: T, since: number): void;
}

/**
 * Hot-path reads of the directory (a key, a user, a project by path, a namespace lineage, an access
 * level, a deploy-key link), remembered so that GitLab Shell's `/internal/allowed` and the token
 * strategy answer from memory. Correctness comes from invalidation, not from the TTL: every write to a
 * `directory_*` table made through this database handle — the plugins' and anyone else's, inside
 * transactions or not — clears the cache at once, and the change is announced on the bus so other
 * instances (with Redis) clear theirs. A load that overlapped a clear is not stored. The TTL bounds
 * staleness between instances that share a database without Redis.
 */
export class DirectoryReadCache implements DerivedCache {
  private readonly entries: LRUCache<string, { value?: Promise<unknown>; derived?: unknown }>;
  private currentGeneration = 0;

  constructor(options: { db: Knex; bus: InvalidationBus; max: number; ttlMs: number }) {
    this.entries = new LRUCache({ max: options.max, ttl: options.ttlMs });
    options.bus.subscribe(DIRECTORY_CHANGED_CHANNEL, () => this.clear());
    options.db.on('query', (query: { sql?: string }) => {
      const sql = query.sql ?? '';
      if (TRANSACTION_END.test(sql)) this.clear();
      else if (DIRECTORY_WRITE.test(sql) && !KEY_TOUCH.test(sql)) {
        this.clear();
        options.bus.publish(DIRECTORY_CHANGED_CHANNEL, '');
      }
    });
  }

  /**
   * The cached value for `key`, loading it when absent. Misses (undefined) are not remembered. A hit
   * hands back the settled promise stored with the value: no async frame or allocation per lookup.
   */
  get<T>(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.entries.get(key);
    return hit?.value ? (hit.value as Promise<T>) : this.load(key, load);
  }

  get generation(): number {
    return this.currentGeneration;
  }

  peek<T>(key: string): T | undefined {
    return this.entries.get(DERIVED + key)?.derived as T | undefined;
  }

  remember<T>(key: string, value: T, since: number): void {
    if (since === this.currentGeneration) this.entries.set(DERIVED + key, { derived: value });
  }

  private async load<T>(key: string, load: () => Promise<T>): Promise<T> {
    const generation = this.currentGeneration;
    const value = await load();
    if (value !== undefined && generation === this.currentGeneration) this.entries.set(key, { value: Promise.resolve(value) });
    return value;
  }

  clear(): void {
    this.currentGeneration += 1;
    this.entries.clear();
  }
}
