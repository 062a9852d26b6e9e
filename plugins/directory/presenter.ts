import { iso } from 'gatehouse';
import type { User } from './users-repository.js';
import type { SshKey } from './keys-repository.js';

/** GitLab's `UserBasic`: what any authenticated user may see of another. */
export function presentUserBasic(user: User, externalUrl: string) {
  return {
    id: user.id,
    username: user.username,
    public_email: null,
    name: user.name,
    state: user.state,
    locked: false,
    avatar_url: null,
    web_url: `${externalUrl}/${user.username}`,
  };
}

/** GitLab's `UserPublic` (+ admin fields): the user themself, or an admin looking. */
export function presentUser(user: User, externalUrl: string) {
  return {
    ...presentUserBasic(user, externalUrl),
    created_at: iso(user.createdAt),
    bio: '',
    bot: false,
    email: user.email,
    is_admin: user.isAdmin,
    two_factor_enabled: user.twoFactorEnabled,
    external: false,
    private_profile: false,
  };
}

/** GitLab's `SSHKey` entity. */
export function presentKey(key: SshKey) {
  return {
    id: key.id,
    title: key.title,
    created_at: iso(key.createdAt),
    expires_at: iso(key.expiresAt),
    last_used_at: iso(key.lastUsedAt),
    key: key.key,
    usage_type: key.usageType,
  };
}
