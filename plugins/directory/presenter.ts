import { iso } from 'gatehouse';
import type { User } from './users-repository.js';
import type { SshKey } from './keys-repository.js';

/*
 * GitLab's user entities, each adding to the one before it (lib/api/entities/user*.rb):
 * UserBasic → User → UserProfile / UserPublic → UserWithAdmin → UserDetailsWithAdmin.
 * Profile fields gatehouse does not keep (location, social accounts, job title…) are presented as
 * GitLab presents a user who never filled them in.
 */

/** What an admin entity adds that comes from other rows than the user's own. */
export interface UserAdminDetails {
  /** The id of the user's personal namespace. */
  namespaceId: number | null;
  /** The admin who created the user, when known and still there. */
  createdBy: User | null;
}

/** GitLab's `UserBasic`: what anyone may see of a user (lists, members, key owners). */
export function presentUserBasic(user: User, externalUrl: string) {
  return {
    id: user.id,
    username: user.username,
    public_email: user.publicEmail,
    name: user.name,
    state: user.state,
    locked: false,
    avatar_url: null,
    web_url: `${externalUrl}/${user.username}`,
  };
}

/**
 * GitLab's `User`: UserBasic and the profile. `created_at` and the follow counts are shown only where
 * the viewer may read the profile (a blocked user's profile is readable by admins and themself only).
 */
function presentUserEntity(user: User, externalUrl: string, profileReadable: boolean, hasViewer: boolean) {
  return {
    ...presentUserBasic(user, externalUrl),
    ...(profileReadable ? { created_at: iso(user.createdAt) } : {}),
    bio: '',
    location: null,
    linkedin: '',
    twitter: '',
    discord: '',
    website_url: '',
    github: '',
    job_title: '',
    pronouns: null,
    organization: '',
    bot: false,
    work_information: null,
    ...(profileReadable ? { followers: 0, following: 0 } : {}),
    ...(profileReadable && hasViewer ? { is_followed: false } : {}),
    local_time: null,
  };
}

/** Whether `viewer` may read `user`'s profile (GitLab's `read_user_profile`). */
export function profileReadable(user: User, viewer: { id: number; isAdmin: boolean } | undefined) {
  return user.state !== 'blocked' || (viewer !== undefined && (viewer.isAdmin || viewer.id === user.id));
}

/** GitLab's `UserProfile`: what `GET /users/:id` shows a non-admin. */
export function presentUserProfile(user: User, externalUrl: string, viewer: { id: number; isAdmin: boolean } | undefined) {
  return { ...presentUserEntity(user, externalUrl, profileReadable(user, viewer), viewer !== undefined), bio_html: '' };
}

/** GitLab's `UserPublic`: the user themself (`GET /user`). */
export function presentUserPublic(user: User, externalUrl: string) {
  return {
    ...presentUserEntity(user, externalUrl, true, true),
    last_sign_in_at: user.lastSignInAt && iso(user.lastSignInAt),
    confirmed_at: iso(user.confirmedAt),
    last_activity_on: null,
    email: user.email,
    theme_id: 1,
    color_scheme_id: 1,
    projects_limit: user.projectsLimit,
    current_sign_in_at: user.currentSignInAt && iso(user.currentSignInAt),
    identities: [],
    can_create_group: user.canCreateGroup,
    can_create_project: user.projectsLimit > 0,
    two_factor_enabled: user.twoFactorEnabled,
    external: user.external,
    private_profile: false,
    // GitLab shows the primary email when no separate commit email is set (none can be set here).
    commit_email: user.email,
    preferred_language: 'en',
  };
}

/** GitLab's `UserWithAdmin`: an admin's view in lists and writes, and an admin's own `GET /user`. */
export function presentUserWithAdmin(user: User, externalUrl: string, details: UserAdminDetails) {
  return {
    ...presentUserPublic(user, externalUrl),
    is_admin: user.isAdmin,
    note: user.note,
    namespace_id: details.namespaceId,
    created_by: details.createdBy ? presentUserBasic(details.createdBy, externalUrl) : null,
  };
}

/** GitLab's `UserDetailsWithAdmin`: `GET /users/:id` as an admin. */
export function presentUserDetailsWithAdmin(user: User, externalUrl: string, details: UserAdminDetails & { highestRole: number }) {
  return {
    ...presentUserWithAdmin(user, externalUrl, details),
    bio_html: '',
    highest_role: details.highestRole,
    current_sign_in_ip: user.currentSignInIp,
    last_sign_in_ip: user.lastSignInIp,
    sign_in_count: user.signInCount,
  };
}

/**
 * A user key as GitLab publishes it (`Key#publishable_key`): type and key material, with the comment
 * replaced by `<user name> (<host>)` so that comments (often email addresses) are not shown.
 */
export function publishableKey(key: SshKey, owner: Pick<User, 'name'>, externalUrl: string) {
  const [type, blob] = key.key.split(/\s+/);
  return `${type} ${blob} ${owner.name} (${new URL(externalUrl).hostname})`;
}

/** GitLab's `SSHKey` fields, with `keyText` as the `key` shown. */
function sshKeyFields(key: SshKey, keyText: string) {
  return {
    id: key.id,
    title: key.title,
    created_at: iso(key.createdAt),
    expires_at: iso(key.expiresAt),
    last_used_at: iso(key.lastUsedAt),
    key: keyText,
    usage_type: key.usageType,
  };
}

/** GitLab's `SSHKey` entity, for a user's key. */
export function presentKey(key: SshKey, owner: Pick<User, 'name'>, externalUrl: string) {
  return sshKeyFields(key, publishableKey(key, owner, externalUrl));
}

/** GitLab's `SSHKey` entity for a key no user's name can be published with (a deploy key): the key as stored. */
export function presentStoredKey(key: SshKey) {
  return sshKeyFields(key, key.key);
}

/** GitLab's `SSHKeyWithUser`: the key and its owner (UserPublic without `is_admin`), for admins. */
export function presentKeyWithUser(key: SshKey, owner: User, externalUrl: string) {
  return { ...presentKey(key, owner, externalUrl), user: presentUserPublic(owner, externalUrl) };
}
