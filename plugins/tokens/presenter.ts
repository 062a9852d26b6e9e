import { iso } from '../../core/util/time.js';
import type { AccessToken } from './repository.js';

/**
 * GitLab's `PersonalAccessToken` entity. `last_used_ips` (the `…WithLastUsedIps` variant) is only
 * exposed behind GitLab's `expose_last_used_ips_for_access_tokens` flag; gatehouse does not record
 * client IPs, so it renders the flag-off shape everywhere.
 */
export function presentToken(token: AccessToken, active: boolean) {
  return {
    id: token.id,
    name: token.name,
    revoked: token.revoked,
    created_at: iso(token.createdAt),
    description: token.description,
    scopes: token.scopes,
    user_id: token.userId,
    last_used_at: iso(token.lastUsedAt),
    active,
    granular: false,
    expires_at: token.expiresAt,
  };
}

/** `ImpersonationToken`: the token entity plus `impersonation`. */
export function presentImpersonationToken(token: AccessToken, active: boolean) {
  return { ...presentToken(token, active), impersonation: token.impersonation };
}

/** The secret-bearing variant, only for create and rotate responses. */
export function presentTokenWithSecret(token: AccessToken, active: boolean, plaintext: string, impersonation = false) {
  return { ...(impersonation ? presentImpersonationToken(token, active) : presentToken(token, active)), token: plaintext };
}
