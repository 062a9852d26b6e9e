import { z } from 'zod';
import { ValidationError } from '../../core/errors.js';
import { paginationShape } from '../../core/http/pagination.js';
import { formatIssues, p } from '../../core/http/validation.js';
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

/** A Grape parameter-group rule over the raw params (`exactly_one_of`, `mutually_exclusive`). */
export interface ParamGroup {
  rule: 'exactly_one_of' | 'mutually_exclusive';
  names: readonly string[];
}

const isGiven = (value: unknown) => value !== undefined && value !== null;

/** Grape's group validators' messages: `scopes, granular_scopes are mutually exclusive`, … */
function groupMessage(group: ParamGroup, params: Record<string, unknown>): string | undefined {
  const given = group.names.filter((name) => isGiven(params[name])).length;
  const names = group.names.join(', ');
  if (given > 1) return `${names} are mutually exclusive`;
  if (given === 0 && group.rule === 'exactly_one_of') return `${names} are missing, exactly one parameter must be provided`;
  return undefined;
}

/**
 * Validates like a Grape params block with group rules. The core validator only knows per-parameter
 * suffixes (`is missing`, `is invalid`, …); group rules add whole messages, and Grape reports both in
 * one body (`name is missing, scopes, granular_scopes are missing, exactly one parameter must be
 * provided`), so routes with groups validate here, in the handler, instead of through `input`.
 */
export function validateWithGroups<T extends z.ZodType>(schema: T, params: Record<string, unknown>, groups: readonly ParamGroup[]): z.output<T> {
  const result = schema.safeParse(params, { reportInput: true });
  const messages = result.success ? [] : formatIssues(result.error.issues);
  for (const group of groups) {
    const message = groupMessage(group, params);
    if (message) messages.push(message);
  }
  if (messages.length || !result.success) throw new ValidationError(messages);
  return result.data;
}
