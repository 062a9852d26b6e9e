import { z, NotFoundError, callerOf, paginationShape, respondWithPage, p, routeFor } from 'gatehouse';
import { presentNamespaceBasic } from './projects-presenter.js';
import type { Namespace } from './namespaces-repository.js';
import type { NamespaceCounts } from './namespaces-service.js';
import type { DirectoryServices } from './services.js';

const route = routeFor<DirectoryServices>();

const NAMESPACE = 'Namespace';
/** GitLab's `namespace_exists` limit: 20 checks a minute per user. */
const EXISTS_PER_MINUTE = 20;

const ListNamespaces = z.object({
  search: p.string().optional(),
  owned_only: p.boolean().optional(),
  top_level_only: p.boolean().optional(),
  full_path_search: p.boolean().optional(),
  ...paginationShape,
});
/** `:id` is a numeric id or a URL-encoded full path. */
const NamespaceRef = z.object({ id: p.string() });
const NamespaceExists = z.object({ id: p.string(), parent_id: p.integer().optional() });

/**
 * GitLab's `Namespace` entity: `NamespaceBasic` and, for a group's owners and admins, its member and
 * project counts (`root_repository_size` is null: gatehouse keeps no repository statistics).
 */
function presentNamespace(namespace: Namespace, externalUrl: string, counts: NamespaceCounts | undefined) {
  return {
    ...presentNamespaceBasic(namespace, externalUrl),
    ...(counts
      ? { members_count_with_descendants: counts.membersCountWithDescendants, root_repository_size: null, projects_count: counts.projectsCount }
      : {}),
  };
}

export const namespacesRoutes = [
  route({
    name: 'directory.namespaces.list',
    method: 'GET',
    path: '/api/v4/namespaces',
    auth: { strategy: 'token' },
    input: ListNamespaces,
    async handler(ctx, input, services) {
      const caller = callerOf(ctx);
      // GitLab lists every namespace to users with the admin flag, admin mode or not (`current_user.admin`).
      const user = await services.users.findById(caller.id);
      const viewer = { id: caller.id, isAdmin: user?.isAdmin ?? false };
      await respondWithPage(ctx, services.externalUrl, input, async (window) => {
        const { namespaces, total } = await services.namespaces.list(
          viewer,
          { search: input.search, fullPathSearch: input.full_path_search, topLevelOnly: input.top_level_only, ownedOnly: input.owned_only },
          window,
        );
        const items = [];
        for (const namespace of namespaces) {
          items.push(presentNamespace(namespace, services.externalUrl, await services.namespaces.countsFor(viewer, namespace)));
        }
        return { items, total };
      });
    },
  }),
  route({
    name: 'directory.namespaces.show',
    method: 'GET',
    path: '/api/v4/namespaces/:id',
    auth: { strategy: 'token' },
    input: NamespaceRef,
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const namespace = await services.namespaces.findReadable(viewer, input.id);
      if (!namespace) throw new NotFoundError(NAMESPACE);
      ctx.body = presentNamespace(namespace, services.externalUrl, await services.namespaces.countsFor(viewer, namespace));
    },
  }),
  route({
    name: 'directory.namespaces.exists',
    method: 'GET',
    path: '/api/v4/namespaces/:id/exists',
    auth: { strategy: 'token' },
    rateLimit: { max: EXISTS_PER_MINUTE, windowMs: 60_000, by: 'user' },
    input: NamespaceExists,
    async handler(ctx, input, services) {
      ctx.body = await services.namespaces.exists(input.id, input.parent_id ?? null);
    },
  }),
];
