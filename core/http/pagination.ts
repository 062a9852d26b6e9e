import { z } from 'zod';
import { p, NOT_ALLOWED, INVALID } from './validation.js';
import type { GatehouseContext } from '../plugins/types.js';

export const DEFAULT_PER_PAGE = 20;
export const MAX_PER_PAGE = 100;
/** Kaminari stops counting past this many rows; GitLab then omits the totals. */
const COUNT_LIMIT = 10_000;

/** `page` and `per_page` as GitLab takes them: per_page 0 is refused, above 100 is clamped. */
export const paginationShape = {
  page: p.integer().pipe(z.number().min(1, { error: INVALID })).optional(),
  per_page: p
    .integer()
    .pipe(z.number().refine((n) => n !== 0, { error: NOT_ALLOWED }).pipe(z.number().min(1, { error: INVALID })))
    .optional(),
};

export interface PageRequest {
  page: number;
  perPage: number;
  offset: number;
}

export function pageOf(input: { page?: number; per_page?: number }): PageRequest {
  const page = input.page ?? 1;
  const perPage = Math.min(input.per_page ?? DEFAULT_PER_PAGE, MAX_PER_PAGE);
  return { page, perPage, offset: (page - 1) * perPage };
}

/**
 * Sets GitLab's offset-pagination headers: X-Page, X-Per-Page, X-Next-Page, X-Prev-Page, X-Total,
 * X-Total-Pages and an absolute Link header built on the configured external URL, keeping the
 * request's other query parameters (python-gitlab and gitbeaker follow only `rel="next"`).
 */
export function setPaginationHeaders(ctx: GatehouseContext, externalUrl: string, page: PageRequest, total: number) {
  const totalPages = Math.max(1, Math.ceil(total / page.perPage));
  const hasNext = page.page < totalPages;
  const hasPrev = page.page > 1;
  const countKnown = total <= COUNT_LIMIT;
  const linkTo = (target: number) => {
    const url = new URL(ctx.path, `${externalUrl}/`);
    const base = new URL(externalUrl);
    url.pathname = `${base.pathname.replace(/\/$/, '')}${ctx.path}`;
    const query = new URLSearchParams(ctx.querystring);
    query.set('page', String(target));
    query.set('per_page', String(page.perPage));
    url.search = query.toString();
    return url.toString();
  };
  const links: string[] = [];
  if (hasPrev) links.push(`<${linkTo(page.page - 1)}>; rel="prev"`);
  if (hasNext) links.push(`<${linkTo(page.page + 1)}>; rel="next"`);
  links.push(`<${linkTo(1)}>; rel="first"`);
  if (countKnown) links.push(`<${linkTo(totalPages)}>; rel="last"`);

  ctx.set('X-Page', String(page.page));
  ctx.set('X-Per-Page', String(page.perPage));
  ctx.set('X-Next-Page', hasNext ? String(page.page + 1) : '');
  ctx.set('X-Prev-Page', hasPrev ? String(page.page - 1) : '');
  if (countKnown) {
    ctx.set('X-Total', String(total));
    ctx.set('X-Total-Pages', String(totalPages));
  }
  ctx.set('Link', links.join(', '));
}

/** The rows a page covers, as repositories take them. */
export interface PageWindow {
  offset: number;
  limit: number;
}

/** One page of a list: its items, already presented, and how many rows the whole list has. */
export interface ListPage {
  items: readonly unknown[];
  total: number;
}

/**
 * Answers with one page of a list, GitLab's way: the page `page`/`per_page` ask for is fetched through
 * `list`, its items become the body and the pagination headers describe where it sits in the list.
 */
export async function respondWithPage(
  ctx: GatehouseContext,
  externalUrl: string,
  input: { page?: number; per_page?: number },
  list: (window: PageWindow) => Promise<ListPage>,
): Promise<void> {
  const page = pageOf(input);
  const { items, total } = await list({ offset: page.offset, limit: page.perPage });
  setPaginationHeaders(ctx, externalUrl, page, total);
  ctx.body = items;
}
