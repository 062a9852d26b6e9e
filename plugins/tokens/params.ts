import { z, paginationShape, p } from 'gatehouse';
import { ALL_SCOPES, SELF_SERVICE_SCOPES } from './scopes.js';

/**
 * The parameters of every tokens route, declared as GitLab's Grape `params` blocks are, so that 400
 * bodies list the same messages in the same order.
 */

/** Grape turns an empty string into nil for non-String types: `revoked=` means "no filter". */
const blankIsAbsent = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === '' || v === null ? undefined : v), schema.optional());

/** `expires_at`: a date or an RFC 3339 datetime (go-gitlab), blank or null meaning "not given". */
const expiresAt = () => blankIsAbsent(p.date());

export const TokenIdParams = z.object({ id: p.integer() });

export const RotateParams = z.object({ id: p.integer(), expires_at: expiresAt() });

export const SelfRotateParams = z.object({ expires_at: expiresAt() });

export const ListParams = z.object({
  // `user_id=` (blank) stays distinguishable from an absent user_id: admins get 404 for it.
  user_id: z.preprocess((v) => (v === '' ? null : v), p.integer().nullable()).optional(),
  revoked: blankIsAbsent(p.boolean()),
  state: p.values(['active', 'inactive']).optional(),
  created_before: blankIsAbsent(p.datetime()),
  created_after: blankIsAbsent(p.datetime()),
  last_used_before: blankIsAbsent(p.datetime()),
  last_used_after: blankIsAbsent(p.datetime()),
  expires_before: blankIsAbsent(p.date()),
  expires_after: blankIsAbsent(p.date()),
  search: p.string().optional(),
  // Unknown sort values are ignored, as GitLab does.
  sort: p.string().optional(),
  ...paginationShape,
});

/** `POST /user/personal_access_tokens`: only `k8s_proxy` and `self_rotate`; exactly one of scopes/granular_scopes. */
export const CreateOwnTokenParams = z.object({
  name: p.string(),
  description: p.string().optional(),
  expires_at: expiresAt(),
  scopes: p.valuesArray(SELF_SERVICE_SCOPES).optional(),
  granular_scopes: z.unknown().optional(),
});

/** `POST /users/:user_id/personal_access_tokens` (admin). */
export const CreateUserTokenParams = z.object({
  user_id: p.integer(),
  name: p.string(),
  scopes: p.valuesArray(ALL_SCOPES),
  expires_at: expiresAt(),
  description: p.string().optional(),
});

/** `POST /users/:user_id/impersonation_tokens`: scopes are checked by the model, not by Grape. */
export const CreateImpersonationTokenParams = z.object({
  user_id: p.integer(),
  name: p.string(),
  description: p.string().optional(),
  expires_at: expiresAt(),
  scopes: p.stringArray().optional(),
  granular_scopes: z.unknown().optional(),
});

export const ImpersonationListParams = z.object({
  user_id: p.integer(),
  state: p.values(['all', 'active', 'inactive']).optional(),
  ...paginationShape,
});

export const ImpersonationTokenParams = z.object({ user_id: p.integer(), impersonation_token_id: p.integer() });
