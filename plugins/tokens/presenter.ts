import { iso } from 'gatehouse';
import type { AccessToken } from './repository.js';

/**
 * GitLab's `PersonalAccessToken` entity. `last_used_ips` (the `…WithLastUsedIps` variant) is only
 * exposed behind GitLab's `expose_last_used_ips_for_access_tokens` flag; gatehouse does not record
 * client IPs, so it renders the flag-off shape everywhere.
 */
export function presentToken(token: AccessToken, active: boolean): TokenEntity {
  // Cached tokens are presented on every `/personal_access_tokens/self` call (each editor extension
  // polls it): reuse the entity while the fields that can change (revoked, last use, activity) have not.
  const lastUsed = token.lastUsedAt?.getTime() ?? null;
  const memo = (token as PresentedMemo)[PRESENTED];
  if (memo && memo.active === active && memo.revoked === token.revoked && memo.lastUsed === lastUsed) return memo.body;
  const body = Object.freeze(tokenEntity(token, active));
  (token as PresentedMemo)[PRESENTED] = { active, revoked: token.revoked, lastUsed, body };
  return body;
}

function tokenEntity(token: AccessToken, active: boolean) {
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

type TokenEntity = Readonly<ReturnType<typeof tokenEntity>>;
const PRESENTED = Symbol('presented-token');
type PresentedMemo = AccessToken & {
  [PRESENTED]?: { active: boolean; revoked: boolean; lastUsed: number | null; body: TokenEntity };
};

/** `ImpersonationToken`: the token entity plus `impersonation`. */
export function presentImpersonationToken(token: AccessToken, active: boolean) {
  return { ...presentToken(token, active), impersonation: token.impersonation };
}

/** The secret-bearing variant, only for create and rotate responses. */
export function presentTokenWithSecret(token: AccessToken, active: boolean, plaintext: string, impersonation = false) {
  return { ...(impersonation ? presentImpersonationToken(token, active) : presentToken(token, active)), token: plaintext };
}
