import { LRUCache } from 'lru-cache';
import type { InvalidationBus } from '../plugins/types.js';

/** How a cache is built: its name (its bus channel), its bound and how long an entry may go unchecked. */
export interface CacheOptions {
  /** Names the cache's bus channel (`cache:<name>`): every instance's cache of that name hears the others. */
  name: string;
  bus: InvalidationBus;
  /** Entries kept at most; the least recently used go first. */
  max: number;
  /**
   * How long an entry lives. Invalidation, not the TTL, keeps entries correct; the TTL only bounds how
   * stale an entry can get when an invalidation is lost (instances sharing a database without Redis,
   * or while Redis is down).
   */
  ttlMs: number;
}

/** An entry's tags, or how to compute them from the value once it is loaded. */
export type CacheTags<T> = readonly string[] | ((value: T) => readonly string[] | undefined);

/** Called after entries were dropped, for this instance's invalidations and for other instances' alike. */
export type InvalidationListener = (tags: readonly string[] | undefined) => void;

/** Drops remembered per tag for racing fills; past this the log is forgotten and older fills are all refused. */
const MAX_DROP_LOG = 10_000;
/** What an untagged invalidation (everything) sends on the bus. */
const EVERYTHING = '*';

interface Entry<V> {
  value: V;
  /** The value as a settled promise, made once: a read-through hit costs no allocation. */
  settled?: Promise<V>;
  tags?: readonly string[];
}

/**
 * The one cache helper: bounded, with a TTL, invalidated explicitly by the code that writes — after its
 * transaction commits — on this instance and, over the bus, on every other.
 *
 * Entries may carry tags (`user:7`, `token:12`). `invalidate(tags)` drops the entries carrying any of
 * them, and every untagged entry (an untagged entry may depend on anything); `invalidate()` drops all.
 *
 * A read that began before a write must never put the old value back. Every drop is therefore logged
 * with a generation number: `set(key, value, since, tags)` is refused when, after `since` (the
 * generation taken before reading), an invalidation dropped one of the value's tags, or any
 * invalidation happened at all for an untagged value. Unrelated drops do not refuse tagged fills.
 */
export class Cache<V> {
  private readonly entries: LRUCache<string, Entry<V>>;
  private readonly keysByTag = new Map<string, Set<string>>();
  private readonly untaggedKeys = new Set<string>();
  private readonly listeners: InvalidationListener[] = [];
  /** Loads in flight, by key: concurrent misses of a key join the first one's (see `get`). */
  private readonly loading = new Map<string, Promise<unknown>>();
  private readonly channel: string;
  private generationCounter = 0;
  /** Tag → generation of its latest drop, in drop order. */
  private readonly dropLog = new Map<string, number>();
  /** Generation of the latest invalidation of any kind (untagged fills are refused past it). */
  private lastInvalidation = 0;
  /** Fills that began before this generation are refused (everything was dropped, or the log forgotten). */
  private floor = 0;

  constructor(private readonly options: CacheOptions) {
    this.entries = new LRUCache<string, Entry<V>>({
      max: options.max,
      ttl: options.ttlMs,
      disposeAfter: (entry, key) => this.unindex(key, entry),
    });
    this.channel = `cache:${options.name}`;
    options.bus.subscribe(this.channel, (message) => this.drop(message === EVERYTHING ? undefined : message.split(',')));
    options.bus.registerCache?.(options.name, options.ttlMs);
  }

  /** Grows with every invalidation; take it before reading what a value comes from, pass it to `set`. */
  get generation(): number {
    return this.generationCounter;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The entry for `key`, synchronously. */
  peek<T extends V = V>(key: string): T | undefined {
    return this.entries.get(key)?.value as T | undefined;
  }

  /** Stores a value read at generation `since`, unless something it depends on was invalidated since. */
  set(key: string, value: V, since: number, tags?: readonly string[]): boolean {
    if (!this.isCurrent(since, tags)) return false;
    this.entries.set(key, { value, tags });
    this.index(key, tags);
    return true;
  }

  /**
   * The value for `key`, loading (and storing) it when absent. Undefined is not remembered. A hit hands
   * back the settled promise stored with the value: no async frame or allocation per lookup.
   *
   * Concurrent misses of one key share one load. Why: without it, every request in flight when an
   * entry expires (every `ttlMs` for a busy token) read the database at once; measured on the proxy
   * route at 200 connections, the 200 token lookups queued on SQLite's one connection held those
   * requests for 100-900 ms (the p99 rose from +14 ms to +74-220 ms over the service). A caller that
   * comes after an invalidation never joins a load that began before it (`drop` detaches them).
   *
   * `tags` may be computed from the loaded value (a token's tags name its user, known once it is read).
   */
  get<T extends V>(key: string, load: () => Promise<T>, tags?: CacheTags<T>): Promise<T>;
  get<T extends V>(key: string, load: () => Promise<T | undefined>, tags?: CacheTags<T>): Promise<T | undefined>;
  get<T extends V>(key: string, load: () => Promise<T | undefined>, tags?: CacheTags<T>): Promise<T | undefined> {
    const entry = this.entries.get(key);
    if (entry) return (entry.settled ??= Promise.resolve(entry.value)) as Promise<T>;
    const pending = this.loading.get(key);
    if (pending) return pending as Promise<T | undefined>;
    const loaded = this.load(key, load, tags);
    this.loading.set(key, loaded);
    const settled = () => {
      if (this.loading.get(key) === loaded) this.loading.delete(key);
    };
    loaded.then(settled, settled);
    return loaded;
  }

  private async load<T extends V>(key: string, load: () => Promise<T | undefined>, tags: CacheTags<T> | undefined): Promise<T | undefined> {
    const since = this.generationCounter;
    const value = await load();
    if (value !== undefined) this.set(key, value, since, typeof tags === 'function' ? tags(value) : tags);
    return value;
  }

  /**
   * Drops what a committed write changed, here and on every instance. Call it after the transaction
   * commits (never before: a concurrent read could put the old row back in between) and await it
   * before answering: it settles once Redis took the message, so a client's next request, to any
   * instance, finds the change. Without Redis, or while it is down, only this instance drops; the TTL
   * bounds the others.
   */
  invalidate(tags?: readonly string[]): Promise<void> {
    // The bus hands the message to this instance's subscribers (this cache's `drop` among them) before
    // it returns, then to the other instances.
    return this.options.bus.publish(this.channel, tags ? tags.join(',') : EVERYTHING);
  }

  /** Drops entries on this instance only (e.g. following another cache's invalidation, heard here too). */
  drop(tags?: readonly string[]): void {
    this.generationCounter += 1;
    // Loads in flight read before this write: later callers start their own (theirs is not stored either).
    this.loading.clear();
    this.lastInvalidation = this.generationCounter;
    if (!tags) {
      this.floor = this.generationCounter;
      this.dropLog.clear();
      this.entries.clear();
    } else {
      for (const key of [...this.untaggedKeys]) this.entries.delete(key);
      for (const tag of tags) {
        this.logDrop(tag);
        const keys = this.keysByTag.get(tag);
        if (keys) for (const key of [...keys]) this.entries.delete(key);
      }
    }
    for (const listener of this.listeners) listener(tags);
  }

  /** Runs `listener` after every invalidation of this cache, this instance's and other instances'. */
  onInvalidate(listener: InvalidationListener): void {
    this.listeners.push(listener);
  }

  private isCurrent(since: number, tags: readonly string[] | undefined): boolean {
    if (since < this.floor) return false;
    if (!tags) return since >= this.lastInvalidation;
    for (const tag of tags) if ((this.dropLog.get(tag) ?? 0) > since) return false;
    return true;
  }

  private logDrop(tag: string) {
    this.dropLog.delete(tag); // re-inserted, so the Map stays in drop order
    this.dropLog.set(tag, this.generationCounter);
    if (this.dropLog.size > MAX_DROP_LOG) {
      this.dropLog.clear();
      this.floor = this.generationCounter;
    }
  }

  private index(key: string, tags: readonly string[] | undefined) {
    if (!tags) {
      this.untaggedKeys.add(key);
      return;
    }
    for (const tag of tags) {
      let keys = this.keysByTag.get(tag);
      if (!keys) this.keysByTag.set(tag, (keys = new Set()));
      keys.add(key);
    }
  }

  private unindex(key: string, entry: Entry<V>) {
    // An entry replaced by a newer one under the same key keeps the index (re-added by `index`).
    if (this.entries.has(key)) return;
    if (!entry.tags) {
      this.untaggedKeys.delete(key);
      return;
    }
    for (const tag of entry.tags) {
      const keys = this.keysByTag.get(tag);
      keys?.delete(key);
      if (keys && !keys.size) this.keysByTag.delete(tag);
    }
  }
}

/** A cache invalidated over `options.bus`. */
export const createCache = <V>(options: CacheOptions): Cache<V> => new Cache<V>(options);
