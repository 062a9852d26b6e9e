import type { Knex } from 'knex';
import { EXTERNAL_URL } from '../../helpers/app.js';

/** The user fields the entity builders read; what the API answers and what the services return both fit. */
export interface UserLike {
  id: number;
  username: string;
  name: string;
  email?: string;
}

/** GitLab's `UserBasic` for a user with no public email (reference directory.md §1.1). */
export function basicEntity(user: UserLike, extra: Record<string, unknown> = {}) {
  return {
    id: user.id,
    username: user.username,
    public_email: null,
    name: user.name,
    state: 'active',
    locked: false,
    avatar_url: null,
    web_url: `${EXTERNAL_URL}/${user.username}`,
    ...extra,
  };
}

/** The profile part of GitLab's `User` entity for a user who never filled it in. */
const EMPTY_PROFILE = {
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
  local_time: null,
};

/** GitLab's `UserProfile` (`GET /users/:id` for a non-admin) of a readable profile created at `createdAt`. */
export function profileEntity(user: UserLike, createdAt: string, extra: Record<string, unknown> = {}) {
  return { ...basicEntity(user), created_at: createdAt, ...EMPTY_PROFILE, followers: 0, following: 0, is_followed: false, bio_html: '', ...extra };
}

/** GitLab's `UserPublic` (`GET /user` for a non-admin). */
export function publicEntity(user: UserLike, createdAt: string, extra: Record<string, unknown> = {}) {
  return {
    ...basicEntity(user),
    created_at: createdAt,
    ...EMPTY_PROFILE,
    followers: 0,
    following: 0,
    is_followed: false,
    last_sign_in_at: null,
    confirmed_at: createdAt,
    last_activity_on: null,
    email: user.email,
    theme_id: 1,
    color_scheme_id: 1,
    projects_limit: 100000,
    current_sign_in_at: null,
    identities: [],
    can_create_group: true,
    can_create_project: true,
    two_factor_enabled: false,
    external: false,
    private_profile: false,
    commit_email: user.email,
    preferred_language: 'en',
    ...extra,
  };
}

/** GitLab's `UserWithAdmin` (admin lists and writes). `createdBy` is the creator's basic entity or null. */
export function adminEntity(
  user: UserLike,
  createdAt: string,
  details: { namespaceId: number; createdBy?: Record<string, unknown> | null },
  extra: Record<string, unknown> = {},
) {
  return {
    ...publicEntity(user, createdAt),
    is_admin: false,
    note: null,
    namespace_id: details.namespaceId,
    created_by: details.createdBy ?? null,
    ...extra,
  };
}

/** GitLab's `UserDetailsWithAdmin` (`GET /users/:id` as an admin). */
export function adminDetailsEntity(
  user: UserLike,
  createdAt: string,
  details: { namespaceId: number; createdBy?: Record<string, unknown> | null; highestRole?: number },
  extra: Record<string, unknown> = {},
) {
  return {
    ...adminEntity(user, createdAt, details),
    bio_html: '',
    highest_role: details.highestRole ?? 0,
    current_sign_in_ip: null,
    last_sign_in_ip: null,
    sign_in_count: 0,
    ...extra,
  };
}

/** The id of a user's personal namespace. */
export async function personalNamespaceId(db: Knex, userId: number): Promise<number> {
  const row = await db('directory_namespaces').where({ kind: 'user', owner_id: userId }).first();
  return Number(row.id);
}
