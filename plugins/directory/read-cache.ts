import { createCache, type Cache, type InvalidationBus } from 'gatehouse';

/**
 * Hot-path reads of the directory (a key, a user, a project by path, a namespace lineage, an access
 * level, a deploy-key link) and values dependants derive from them (a whole `/internal/allowed`
 * answer), so that GitLab Shell and the token strategy answer from memory.
 *
 * Entries are stored untagged: each may depend on any directory row, so every directory write drops
 * them all. The services that write say what they changed, after their transaction commits, with the
 * tags below; dependants (the tokens plugin's principal cache) follow those tags through
 * `onInvalidate`. Writes made around the services (SQL by hand) are not seen until the TTL expires.
 */
export type DirectoryCache = Cache<unknown>;

export function createDirectoryCache(options: { bus: InvalidationBus; max: number; ttlMs: number }): DirectoryCache {
  return createCache<unknown>({ name: 'directory', ...options });
}

/** What a directory write changed, as cache tags. A user's tag drops the principals built from that user. */
export const changedUser = (id: number) => `user:${id}`;
export const changedKey = (id: number) => `key:${id}`;
export const changedNamespace = (id: number) => `namespace:${id}`;
export const changedProject = (id: number) => `project:${id}`;
