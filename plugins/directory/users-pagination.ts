import { ApiError, MAX_PER_PAGE, DEFAULT_PER_PAGE, type GatehouseContext } from 'gatehouse';
import type { User, UserCursor, UserOrder } from './users-repository.js';

/** GitLab's plan limit `offset_pagination_limit` (default): past it, User lists need keyset pagination. */
export const OFFSET_PAGINATION_LIMIT = 50_000;

export const offsetLimitExceeded = (type: string) =>
  `Offset pagination has a maximum allowed offset of ${OFFSET_PAGINATION_LIMIT} for requests that return objects of type ${type}. Remaining records can be retrieved using keyset pagination.`;
export const KEYSET_UNAVAILABLE = 'Keyset pagination is not yet available for this type of request';
export const CURSOR_INVALID = 'cursor is invalid';

/** 405 with GitLab's `{"error": …}` body (`error!(message, 405)` in its pagination strategies). */
export class PaginationNotAllowedError extends ApiError {
  constructor(message: string) {
    super(405, { error: message });
  }
}

/**
 * An offset page whose end lies past GitLab's limit is refused as GitLab refuses it, before any query
 * (GitLab multiplies the requested `page` and `per_page`, before clamping `per_page`).
 */
export function assertOffsetWithinLimit(input: { page?: number; per_page?: number }, type: string) {
  if ((input.page ?? 1) * (input.per_page ?? DEFAULT_PER_PAGE) > OFFSET_PAGINATION_LIMIT) {
    throw new PaginationNotAllowedError(offsetLimitExceeded(type));
  }
}

/** A decoded `cursor` param: where to continue, and which way (`n`ext or `p`revious). */
export interface DecodedCursor {
  position: UserCursor;
  backwards: boolean;
}

/**
 * GitLab's cursors are URL-safe base64 of JSON naming the order column's value, the id and the
 * direction (`{"name":"Ada","id":"5","_kd":"n"}`). Anything else is a 400.
 */
export function decodeCursor(cursor: string, order: UserOrder): DecodedCursor {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new ApiError(400, { error: CURSOR_INVALID });
  }
  const id = Number(parsed?.id);
  const raw = parsed?.[order.by];
  const kind = parsed?._kd ?? 'n';
  if (!Number.isSafeInteger(id) || raw === undefined || raw === null || (kind !== 'n' && kind !== 'p')) throw new ApiError(400, { error: CURSOR_INVALID });
  let value: UserCursor['value'];
  if (order.by === 'id') value = id;
  else if (order.by === 'created_at' || order.by === 'updated_at') {
    value = new Date(String(raw));
    if (Number.isNaN(value.getTime())) throw new ApiError(400, { error: CURSOR_INVALID });
  } else value = String(raw);
  return { position: { value, id }, backwards: kind === 'p' };
}

function encodeCursor(user: User, order: UserOrder, kind: 'n' | 'p'): string {
  const value = order.by === 'id' ? user.id : order.by === 'created_at' ? user.createdAt.toISOString() : order.by === 'updated_at' ? user.updatedAt.toISOString() : user[order.by];
  return Buffer.from(JSON.stringify({ [order.by]: String(value), id: String(user.id), _kd: kind })).toString('base64url');
}

/**
 * GitLab's cursor-based keyset headers: `X-NEXT-CURSOR` / `X-PREV-CURSOR` and a `Link` header with
 * `rel="next"` / `rel="prev"` on the configured external URL, keeping the request's other params.
 * No totals: keyset pagination never counts.
 */
export function setKeysetHeaders(
  ctx: GatehouseContext,
  externalUrl: string,
  order: UserOrder,
  users: readonly User[],
  page: { hasNext: boolean; hasPrev: boolean; perPage: number },
) {
  const linkTo = (cursor: string) => {
    const base = new URL(externalUrl);
    const url = new URL(externalUrl);
    url.pathname = `${base.pathname.replace(/\/$/, '')}${ctx.path}`;
    const query = new URLSearchParams(ctx.querystring);
    query.set('cursor', cursor);
    query.set('per_page', String(page.perPage));
    url.search = query.toString();
    return url.toString();
  };
  const links: string[] = [];
  if (page.hasNext && users.length > 0) {
    const next = encodeCursor(users[users.length - 1], order, 'n');
    ctx.set('X-NEXT-CURSOR', next);
    links.push(`<${linkTo(next)}>; rel="next"`);
  }
  if (page.hasPrev && users.length > 0) {
    const prev = encodeCursor(users[0], order, 'p');
    ctx.set('X-PREV-CURSOR', prev);
    links.push(`<${linkTo(prev)}>; rel="prev"`);
  }
  if (links.length) ctx.set('Link', links.join(', '));
}

export const keysetPerPage = (input: { per_page?: number }) => Math.min(input.per_page ?? DEFAULT_PER_PAGE, MAX_PER_PAGE);
