import {
  z,
  p,
  NotFoundError,
  callerOf,
  created,
  noContent,
  pageOf,
  paginationShape,
  respondWithPage,
  routeFor,
  type GatehouseContext,
} from 'gatehouse';
import type { DirectoryServices } from './services.js';
import { VISIBILITIES } from './namespaces-repository.js';
import { PROJECT_ORDER_COLUMNS, type Project, type ProjectOrder } from './projects-repository.js';
import { DEPLOY_KEY, permissionsOf, type ProjectListPage, type ProjectListRequest } from './projects-list-service.js';
import { presentBasicProject, presentProject, presentProjectDeployKey } from './projects-presenter.js';
import { DeleteMarkable, accepted, accessValue, deletionOptionsOf, paginationKind, viewerAndVisibleGroup, viewerOf } from './groups-routes.js';
import { KEYSET_UNAVAILABLE, PaginationNotAllowedError } from './users-pagination.js';

const route = routeFor<DirectoryServices>();

const PROJECT_ORDERS = Object.keys(PROJECT_ORDER_COLUMNS) as [ProjectOrder, ...ProjectOrder[]];

/** The params of the project lists (`GET /projects`, `/users/:user_id/projects`, `/groups/:id/projects`). */
const listShape = {
  order_by: p.values(PROJECT_ORDERS).optional(),
  sort: p.values(['asc', 'desc']).optional(),
  archived: p.boolean().optional(),
  visibility: p.values(VISIBILITIES).optional(),
  search: p.string().optional(),
  search_namespaces: p.boolean().optional(),
  owned: p.boolean().optional(),
  starred: p.boolean().optional(),
  membership: p.boolean().optional(),
  simple: p.boolean().optional(),
  statistics: p.boolean().optional(),
  min_access_level: accessValue().optional(),
  id_after: p.integer().optional(),
  id_before: p.integer().optional(),
  include_pending_delete: p.boolean().optional(),
  with_custom_attributes: p.boolean().optional(),
  pagination: paginationKind,
  ...paginationShape,
};
const ListProjects = z.object(listShape);
const ListUserProjects = z.object({ user_id: p.string(), ...listShape });
const ListGroupProjects = z.object({ id: p.string(), include_subgroups: p.boolean().optional(), with_shared: p.boolean().optional(), ...listShape });
type ListInput = z.output<typeof ListProjects>;

const DeployKeyRef = z.object({ id: p.string(), key_id: p.integer() });
const ListDeployKeys = z.object({ id: p.string(), ...paginationShape });

function requestOf(input: ListInput): ProjectListRequest {
  return {
    membership: input.membership,
    owned: input.owned,
    minAccessLevel: input.min_access_level,
    search: input.search || undefined,
    searchNamespaces: input.search_namespaces,
    visibility: input.visibility,
    archived: input.archived,
    idAfter: input.id_after,
    idBefore: input.id_before,
    // GitLab's default `created_at` is executed as `id`.
    orderBy: input.order_by ?? 'created_at',
    sort: input.sort ?? 'desc',
  };
}

/** How each project of a page is shown: BasicProjectDetails, Project, or Project with `permissions`. */
type Entity = 'basic' | 'project' | 'with-access';

async function present(services: DirectoryServices, ctx: GatehouseContext, page: ProjectListPage, entity: Entity) {
  const admin = viewerOf(ctx)?.isAdmin ?? false;
  return Promise.all(
    page.projects.map(async (project: Project) => {
      const lineage = await services.projects.projectLineage(project);
      if (entity === 'basic') return presentBasicProject(project, lineage, services.externalUrl, { admin });
      const body = presentProject(project, lineage, services.externalUrl, { admin });
      return entity === 'with-access' && page.authorizations ? { ...body, permissions: permissionsOf(project, lineage, page.authorizations) } : body;
    }),
  );
}

/**
 * Answers a project list: offset pages with GitLab's headers, or with `pagination=keyset` (ordered by
 * id only, else 405) a page and a `Link` to the next one through `id_after`/`id_before`, no totals.
 */
async function respondWithProjects(
  ctx: GatehouseContext,
  services: DirectoryServices,
  input: ListInput,
  entity: Entity,
  list: (request: ProjectListRequest, window: { offset: number; limit: number }) => Promise<ProjectListPage>,
) {
  const request = requestOf(input);
  if (input.pagination === 'keyset') {
    if (input.order_by !== 'id') throw new PaginationNotAllowedError(KEYSET_UNAVAILABLE);
    const { perPage } = pageOf(input);
    const page = await list({ ...request, skipCount: true }, { offset: 0, limit: perPage + 1 });
    const more = page.projects.length > perPage;
    const shown = { ...page, projects: page.projects.slice(0, perPage) };
    if (more) ctx.set('Link', `<${nextKeysetUrl(ctx, services.externalUrl, request.sort, shown.projects[perPage - 1].id)}>; rel="next"`);
    ctx.body = await present(services, ctx, shown, entity);
    return;
  }
  await respondWithPage(ctx, services.externalUrl, input, async (window) => {
    const page = await list(request, window);
    return { items: await present(services, ctx, page, entity), total: page.total };
  });
}

/** GitLab's keyset `Link`: the request's params plus `id_after` (ascending) or `id_before` (descending) the last id. */
function nextKeysetUrl(ctx: GatehouseContext, externalUrl: string, sort: 'asc' | 'desc', lastId: number) {
  const base = new URL(externalUrl);
  const url = new URL(`${base.origin}${base.pathname.replace(/\/$/, '')}${ctx.path}`);
  const query = new URLSearchParams(ctx.querystring);
  query.delete('id_after');
  query.delete('id_before');
  query.set(sort === 'asc' ? 'id_after' : 'id_before', String(lastId));
  url.search = query.toString();
  return url.toString();
}

/** Anonymous callers and `simple=true` get BasicProjectDetails; signed-in callers the project with `permissions`. */
const entityFor = (ctx: GatehouseContext, input: ListInput, signedIn: Entity): Entity => (input.simple || !viewerOf(ctx) ? 'basic' : signedIn);

export const projectListRoutes = [
  route({
    name: 'directory.projects.list',
    method: 'GET',
    path: '/api/v4/projects',
    auth: { strategy: 'optional_token' },
    // GitLab's projects_api limit (2000 per 10 minutes per user, or per IP for anonymous callers).
    rateLimit: { max: 2000, windowMs: 600_000, by: 'user' },
    input: ListProjects,
    async handler(ctx, input, services) {
      const viewer = viewerOf(ctx);
      await respondWithProjects(ctx, services, input, entityFor(ctx, input, 'with-access'), (request, window) =>
        services.projectLists.list(viewer, request, window),
      );
    },
  }),
  route({
    name: 'directory.users.projects',
    method: 'GET',
    path: '/api/v4/users/:user_id/projects',
    auth: { strategy: 'optional_token' },
    // GitLab's user_projects_api limit.
    rateLimit: { max: 300, windowMs: 60_000, by: 'user' },
    input: ListUserProjects,
    async handler(ctx, input, services) {
      const viewer = viewerOf(ctx);
      const user = await services.users.findByIdOrUsername(input.user_id);
      if (!user) throw new NotFoundError('User');
      // GitLab lists nothing when the viewer may not read the user's profile (a blocked user, to non-admins).
      const readable = user.state !== 'blocked' || viewer?.isAdmin || viewer?.id === user.id;
      const namespace = readable ? await services.projects.findUserNamespace(user.id) : undefined;
      await respondWithProjects(ctx, services, input, entityFor(ctx, input, 'with-access'), async (request, window) =>
        namespace ? services.projectLists.list(viewer, request, window, [namespace.id]) : { projects: [], total: 0 },
      );
    },
  }),
  route({
    name: 'directory.groups.projects',
    method: 'GET',
    path: '/api/v4/groups/:id/projects',
    auth: { strategy: 'optional_token' },
    // GitLab's group_projects_api limit.
    rateLimit: { max: 600, windowMs: 60_000, by: 'user' },
    input: ListGroupProjects,
    async handler(ctx, input, services) {
      const { viewer, group } = await viewerAndVisibleGroup(ctx, services, input.id);
      const namespaceIds = input.include_subgroups ? await services.projects.namespaces.selfAndDescendantIds(group.id) : [group.id];
      // GitLab's group project list shows the Project entity to everyone (anonymous callers too), without `permissions`.
      await respondWithProjects(ctx, services, input, input.simple ? 'basic' : 'project', (request, window) =>
        services.projectLists.list(viewer, request, window, namespaceIds),
      );
    },
  }),
  route({
    name: 'directory.projects.delete',
    method: 'DELETE',
    path: '/api/v4/projects/:id',
    auth: { strategy: 'token' },
    input: DeleteMarkable,
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const project = await services.projects.visibleProject(viewer, input.id);
      await services.projectLists.delete(viewer, project, deletionOptionsOf(input));
      accepted(ctx);
    },
  }),
  route({
    name: 'directory.projects.restore',
    method: 'POST',
    path: '/api/v4/projects/:id/restore',
    auth: { strategy: 'token' },
    input: z.object({ id: p.string() }),
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const restored = await services.projectLists.restore(viewer, await services.projects.visibleProject(viewer, input.id));
      const lineage = await services.projects.projectLineage(restored);
      created(ctx, presentProject(restored, lineage, services.externalUrl, { admin: viewer.isAdmin }));
    },
  }),
  route({
    name: 'directory.projects.deploy-keys.list',
    method: 'GET',
    path: '/api/v4/projects/:id/deploy_keys',
    auth: { strategy: 'token' },
    input: ListDeployKeys,
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const project = await services.projects.visibleProject(viewer, input.id);
      await respondWithPage(ctx, services.externalUrl, input, async (window) => {
        const { keys, total } = await services.projectLists.deployKeys(viewer, project, window);
        return { items: keys.map(presentProjectDeployKey), total };
      });
    },
  }),
  route({
    name: 'directory.projects.deploy-keys.show',
    method: 'GET',
    path: '/api/v4/projects/:id/deploy_keys/:key_id',
    auth: { strategy: 'token' },
    input: DeployKeyRef,
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const project = await services.projects.visibleProject(viewer, input.id);
      ctx.body = presentProjectDeployKey(await services.projectLists.deployKey(viewer, project, input.key_id));
    },
  }),
  route({
    name: 'directory.projects.deploy-keys.delete',
    method: 'DELETE',
    path: '/api/v4/projects/:id/deploy_keys/:key_id',
    auth: { strategy: 'token' },
    input: DeployKeyRef,
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const project = await services.projects.visibleProject(viewer, input.id);
      if (!(await services.projectLists.removeDeployKey(viewer, project, input.key_id))) throw new NotFoundError(DEPLOY_KEY);
      noContent(ctx);
    },
  }),
];
