import type { DirectoryServices, SshKey, User } from './types.js';

/**
 * Who a GitLab Shell / Gitaly request acts for (GitLab's `GitAccessActor`): from `key_id` (an SSH key
 * usable for authentication), `user_id`, `identifier` (`key-N`, `user-N`, `username-x`) or `username`,
 * in that priority. A key's user becomes the actor's user.
 */
export interface Actor {
  /** The key that authenticated the session, when one did. */
  key?: SshKey;
  /** The user acting; absent for a deploy key or when nothing matched. */
  user?: User;
  /** What was asked for, to tell "no such key" from "no such user" in messages. */
  by: 'key' | 'user' | 'username' | 'none';
}

const asId = (value: unknown): number | undefined => {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  return /^\d+$/.test(text) ? Number(text) : undefined;
};

/** Parses `identifier`: `key-7`, `user-3`, `username-alice`. */
export function parseIdentifier(identifier: unknown): { keyId?: number; userId?: number; username?: string } {
  if (typeof identifier !== 'string') return {};
  const match = /^(key|user|username)-(.+)$/.exec(identifier.trim());
  if (!match) return {};
  if (match[1] === 'username') return { username: match[2] };
  const id = asId(match[2]);
  return match[1] === 'key' ? { keyId: id } : { userId: id };
}

/**
 * Resolves the actor. Only keys usable for authentication count (usage type `auth` or
 * `auth_and_signing`); a signing-only key is "no key".
 */
export async function resolveActor(directory: DirectoryServices, params: Record<string, unknown>): Promise<Actor> {
  const fromIdentifier = parseIdentifier(params.identifier);
  const keyId = params.key_id !== undefined ? asId(params.key_id) ?? -1 : fromIdentifier.keyId;
  const userId = params.user_id !== undefined ? asId(params.user_id) ?? -1 : fromIdentifier.userId;
  const username = typeof params.username === 'string' ? params.username : fromIdentifier.username;

  if (keyId !== undefined) {
    const key = keyId > 0 ? await directory.keys.findById(keyId) : undefined;
    if (!key || !(key.usageType === 'auth' || key.usageType === 'auth_and_signing')) return { by: 'key' };
    const user = key.type === 'key' && key.userId !== null ? await directory.users.findById(key.userId) : undefined;
    return { key, user, by: 'key' };
  }
  if (userId !== undefined) return { user: userId > 0 ? await directory.users.findById(userId) : undefined, by: 'user' };
  if (username !== undefined) return { user: await directory.users.findByUsername(username), by: 'username' };
  return { by: 'none' };
}
