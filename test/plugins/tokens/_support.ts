/**
 * Shared constants and helpers for the tokens plugin tests: GitLab's exact strings (reference
 * Appendix A) and readers of the token table that normalise SQLite/PostgreSQL differences.
 */
import { createUserWithToken } from '../../helpers/fixtures.js';
import type { TestApp } from '../../helpers/app.js';

export const TABLE = 'tokens_personal_access_tokens';
/** The TestClock's start, and the days derived from it. */
export const NOW = '2026-11-22T10:00:00.000Z';
export const TODAY = '2026-11-22';
export const IN_A_YEAR = '2027-11-22';
export const IN_A_WEEK = '2026-11-29';

export const UNAUTHORIZED = { message: '401 Unauthorized' };
export const FORBIDDEN = { message: '403 Forbidden' };
export const NOT_FOUND = { message: '404 Not Found' };
export const RECORD_NOT_FOUND = { message: '404 Not found' };
export const USER_NOT_FOUND = { message: '404 User Not Found' };
export const IMPERSONATION_TOKEN_NOT_FOUND = { message: '404 Impersonation Token Not Found' };
export const NOT_PERMITTED_TO_REVOKE = { message: '400 Bad request - Not permitted to revoke' };
export const ALREADY_REVOKED = { message: '400 Bad request - Token already revoked' };
export const PRECONDITION_FAILED = { message: '412 Precondition Failed' };

export const EXPIRED_DESCRIPTION = 'Token is expired. You can either do re-authorization or token refresh.';
export const REVOKED_DESCRIPTION = 'Token was revoked. You have to re-authorize from the user.';
export const EXPIRED = { error: 'invalid_token', error_description: EXPIRED_DESCRIPTION };
export const REVOKED = { error: 'invalid_token', error_description: REVOKED_DESCRIPTION };
export const challenge = (description: string) =>
  `Bearer realm="Protected by OAuth 2.0", error="invalid_token", error_description="${description}"`;

export const insufficientScope = (scope: string) => ({
  error: 'insufficient_scope',
  error_description: 'The request requires higher privileges than provided by the access token.',
  scope,
});

export const grape = (error: string) => ({ error });

/** A user with one token, through the services (fast). */
export async function userWithToken(app: TestApp, scopes: string[] = ['api'], options: { admin?: boolean; expiresAt?: string | null } = {}) {
  return createUserWithToken(app, scopes, options);
}

/** A token row with driver differences removed (booleans, timestamps, JSON scopes). */
export async function tokenRow(app: TestApp, id: number) {
  const row = await app.db(TABLE).where({ id }).first();
  if (!row) return undefined;
  return {
    id: Number(row.id),
    user_id: Number(row.user_id),
    name: String(row.name),
    description: row.description ?? null,
    token_digest: String(row.token_digest),
    scopes: JSON.parse(String(row.scopes)) as string[],
    impersonation: Boolean(row.impersonation),
    revoked: Boolean(row.revoked),
    expires_at: row.expires_at ?? null,
    last_used_at: toIso(row.last_used_at),
    previous_personal_access_token_id: row.previous_personal_access_token_id == null ? null : Number(row.previous_personal_access_token_id),
    created_at: toIso(row.created_at),
    updated_at: toIso(row.updated_at),
  };
}

function toIso(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  return new Date(typeof value === 'number' ? value : String(value)).toISOString();
}

export async function countTokens(app: TestApp, where: Record<string, unknown> = {}): Promise<number> {
  const row = await app.db(TABLE).where(where).count({ n: '*' }).first();
  return Number(row?.n ?? 0);
}

/** The JSON GitLab renders for a token (PersonalAccessToken entity), from the values a test expects. */
export function tokenJson(fields: {
  id: number;
  user_id: number;
  name?: string;
  scopes?: string[];
  description?: string | null;
  revoked?: boolean;
  active?: boolean;
  created_at?: string;
  last_used_at?: string | null;
  expires_at?: string | null;
}) {
  return {
    id: fields.id,
    name: fields.name ?? 'test token',
    revoked: fields.revoked ?? false,
    created_at: fields.created_at ?? NOW,
    description: fields.description ?? null,
    scopes: fields.scopes ?? ['api'],
    user_id: fields.user_id,
    last_used_at: fields.last_used_at ?? null,
    active: fields.active ?? true,
    granular: false,
    expires_at: fields.expires_at === undefined ? IN_A_YEAR : fields.expires_at,
  };
}
