import { z, p, INVALID, NOT_A_VALID_VALUE, callerOf, created, paginationShape, pageOf, respondWithPage, routeFor, type GatehouseContext } from 'gatehouse';
import type { DirectoryServices } from './services.js';
import { VISIBILITIES, type Namespace } from './namespaces-repository.js';
import { GROUP_ORDERS } from './groups-repository.js';
import type { GroupListRequest } from './groups-service.js';
import { presentGroup } from './projects-presenter.js';
import type { Viewer } from './projects-service.js';
import { KEYSET_UNAVAILABLE, OFFSET_PAGINATION_LIMIT, PaginationNotAllowedError, offsetLimitExceeded } from './users-pagination.js';

const route = routeFor<DirectoryServices>();

/** GitLab's `Gitlab::Access.all_values` (without the optional Security Manager role). */
export const ACCESS_VALUES: readonly number[] = [10, 15, 20, 30, 40, 50];

/** An access level param (`min_access_level`): one of GitLab's values, else `does not have a valid value`. */
export const accessValue = () => p.integer().pipe(z.number().refine((level) => ACCESS_VALUES.includes(level), { error: NOT_A_VALID_VALUE }));

/** An array of ids given as an array or a comma list (`skip_groups=1,2`). */
export const idArray = () =>
  p.stringArray().pipe(z.array(z.string().regex(/^\d+$/, { error: INVALID })).transform((ids) => ids.map(Number)));

/** `pagination=offset|keyset`. */
export const paginationKind = p.values(['offset', 'keyset']).optional();

/** The params of `GET /groups`, `/subgroups` and `/descendant_groups`, in GitLab's order. */
const ListGroups = z.object({
  statistics: p.boolean().optional(),
  archived: p.boolean().optional(),
  skip_groups: idArray().optional(),
  all_available: p.boolean().optional(),
  visibility: p.values(VISIBILITIES).optional(),
  search: p.string().optional(),
  owned: p.boolean().optional(),
  order_by: p.values(GROUP_ORDERS).optional(),
  sort: p.values(['asc', 'desc']).optional(),
  min_access_level: accessValue().optional(),
  top_level_only: p.boolean().optional(),
  with_custom_attributes: p.boolean().optional(),
  pagination: paginationKind,
  ...paginationShape,
});
const GroupListOf = ListGroups.extend({ id: p.string() });
/** `DELETE /groups/:id` and `/projects/:id`: mark for deletion, or remove a marked one for good. */
export const DeleteMarkable = z.object({
  id: p.string(),
  permanently_remove: p.boolean().optional(),
  full_path: p.string().optional(),
});

export const deletionOptionsOf = (input: z.output<typeof DeleteMarkable>) => ({ permanentlyRemove: input.permanently_remove, fullPath: input.full_path });

/** The caller, or null for an anonymous read. */
export const viewerOf = (ctx: GatehouseContext): Viewer | null => ctx.state.principal?.user ?? null;

/**
 * How every list below a group starts: the caller (null when anonymous) and the group `id` names, if
 * they may see it. An unseen group answers `404 Group Not Found` before any pagination check.
 */
export async function viewerAndVisibleGroup(ctx: GatehouseContext, services: DirectoryServices, id: string): Promise<{ viewer: Viewer | null; group: Namespace }> {
  const viewer = viewerOf(ctx);
  return { viewer, group: await services.projects.visibleGroup(viewer, id) };
}

/**
 * Offset pages past GitLab's limit answer 405, and keyset pagination is not offered for group lists
 * (GitLab offers it to anonymous callers ordered by name only).
 */
function checkPagination(input: z.output<typeof ListGroups>) {
  if (input.pagination === 'keyset') throw new PaginationNotAllowedError(KEYSET_UNAVAILABLE);
  const page = pageOf(input);
  if (page.page * page.perPage > OFFSET_PAGINATION_LIMIT) throw new PaginationNotAllowedError(offsetLimitExceeded('Group'));
}

function requestOf(input: z.output<typeof ListGroups>): GroupListRequest {
  return {
    search: input.search || undefined,
    owned: input.owned,
    minAccessLevel: input.min_access_level,
    allAvailable: input.all_available,
    topLevelOnly: input.top_level_only,
    visibility: input.visibility,
    skipIds: input.skip_groups,
    orderBy: input.order_by ?? 'name',
    sort: input.sort ?? 'asc',
  };
}

/** Answers a page of groups, each with its full name (one lineage read per group, cached). */
async function respondWithGroups(
  ctx: GatehouseContext,
  services: DirectoryServices,
  input: z.output<typeof ListGroups>,
  list: (window: { offset: number; limit: number }) => Promise<{ groups: Namespace[]; total: number }>,
) {
  checkPagination(input);
  await respondWithPage(ctx, services.externalUrl, input, async (window) => {
    // No group is archived here: `archived=true` lists none.
    if (input.archived === true) return { items: [], total: 0 };
    const { groups, total } = await list(window);
    const items = await Promise.all(groups.map(async (group) => presentGroup(group, await services.projects.lineageOf(group), services.externalUrl)));
    return { items, total };
  });
}

export const groupListRoutes = [
  route({
    name: 'directory.groups.list',
    method: 'GET',
    path: '/api/v4/groups',
    auth: { strategy: 'optional_token' },
    // GitLab's groups_api limit: 200 a minute per user, or per IP for anonymous callers.
    rateLimit: { max: 200, windowMs: 60_000, by: 'user' },
    input: ListGroups,
    async handler(ctx, input, services) {
      await respondWithGroups(ctx, services, input, (window) => services.groups.list(viewerOf(ctx), requestOf(input), window));
    },
  }),
  route({
    name: 'directory.groups.subgroups',
    method: 'GET',
    path: '/api/v4/groups/:id/subgroups',
    auth: { strategy: 'optional_token' },
    input: GroupListOf,
    async handler(ctx, input, services) {
      const { viewer, group } = await viewerAndVisibleGroup(ctx, services, input.id);
      await respondWithGroups(ctx, services, input, (window) => services.groups.subgroups(viewer, group, requestOf(input), window));
    },
  }),
  route({
    name: 'directory.groups.descendant-groups',
    method: 'GET',
    path: '/api/v4/groups/:id/descendant_groups',
    auth: { strategy: 'optional_token' },
    input: GroupListOf,
    async handler(ctx, input, services) {
      const { viewer, group } = await viewerAndVisibleGroup(ctx, services, input.id);
      await respondWithGroups(ctx, services, input, (window) => services.groups.descendants(viewer, group, requestOf(input), window));
    },
  }),
  route({
    name: 'directory.groups.delete',
    method: 'DELETE',
    path: '/api/v4/groups/:id',
    auth: { strategy: 'token' },
    input: DeleteMarkable,
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const group = await services.projects.visibleGroup(viewer, input.id);
      await services.groups.delete(viewer, group, deletionOptionsOf(input));
      accepted(ctx);
    },
  }),
  route({
    name: 'directory.groups.restore',
    method: 'POST',
    path: '/api/v4/groups/:id/restore',
    auth: { strategy: 'token' },
    input: z.object({ id: p.string() }),
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const restored = await services.groups.restore(viewer, await services.projects.visibleGroup(viewer, input.id));
      created(ctx, presentGroup(restored, await services.projects.lineageOf(restored), services.externalUrl));
    },
  }),
];

/** GitLab's `accepted!`: 202 with the body `{"message":"202 Accepted"}`. */
export function accepted(ctx: GatehouseContext) {
  ctx.status = 202;
  ctx.body = { message: '202 Accepted' };
}
