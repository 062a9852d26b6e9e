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

/**
 * Hot-path reads of the directory (a key, a user, a project by path, a namespace lineage, an access
 * level, a deploy-key link), remembered so that GitLab Shell's `/internal/allowed` and the token
 * strategy answer from memory. Correctness comes from invalidation, not from the TTL: every write to a
 * `directory_*` table made through this database handle — the plugins' and anyone else's, inside
 * transactions or not — clears the cache at once, and the change is announced on the bus so other
 * instances (with Redis) clear theirs. A load that overlapped a clear is not stored. The TTL bounds
 * staleness between instances that share a database without Redis.
 */
export class DirectoryReadCache {
  private readonly entries: LRUCache<string, { value: Promise<unknown> }>;
  private generation = 0;

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
    return hit ? (hit.value as Promise<T>) : this.load(key, load);
  }

  private async load<T>(key: string, load: () => Promise<T>): Promise<T> {
    const generation = this.generation;
    const value = await load();
    if (value !== undefined && generation === this.generation) this.entries.set(key, { value: Promise.resolve(value) });
    return value;
  }

  clear(): void {
    this.generation += 1;
    this.entries.clear();
  }
}
