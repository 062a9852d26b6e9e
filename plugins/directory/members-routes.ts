import { z, p, callerOf, noContent, paginationShape, respondWithPage, routeFor, type GatehouseContext } from 'gatehouse';
import type { DirectoryServices } from './services.js';
import type { MemberSourceRef } from './members-service.js';
import { presentMember } from './projects-presenter.js';
import { idArray } from './groups-routes.js';

const route = routeFor<DirectoryServices>();

type SourceKind = 'group' | 'project';

const ListMembers = z.object({
  id: p.string(),
  query: p.string().optional(),
  user_ids: idArray().optional(),
  show_seat_info: p.boolean().optional(),
  ...paginationShape,
});
const ListAllMembers = ListMembers.extend({ state: p.values(['awaiting', 'active']).optional() });
const MemberRef = z.object({ id: p.string(), user_id: p.integer() });
const UpdateMember = z.object({
  id: p.string(),
  user_id: p.integer(),
  access_level: p.integer(),
  // null or empty clears the expiry (go-gitlab always sends the key, null when unset).
  expires_at: z.preprocess((value) => (value === '' ? null : value), p.date().nullable()).optional(),
  member_role_id: p.integer().optional(),
});
const RemoveMember = z.object({
  id: p.string(),
  user_id: p.integer(),
  skip_subresources: p.boolean().optional(),
  unassign_issuables: p.boolean().optional(),
});

/** The group or project of a member route, if the caller may see it (404 `Group Not Found` / `Project Not Found` otherwise). */
async function sourceOf(ctx: GatehouseContext, services: DirectoryServices, kind: SourceKind, id: string): Promise<MemberSourceRef> {
  const viewer = callerOf(ctx);
  return kind === 'group'
    ? { type: 'group', group: await services.projects.visibleGroup(viewer, id) }
    : { type: 'project', project: await services.projects.visibleProject(viewer, id) };
}

/** The member routes of one source kind: `/groups/:id/members…` or `/projects/:id/members…`. */
function memberRoutes(kind: SourceKind) {
  const base = `/api/v4/${kind}s/:id/members`;
  const name = `directory.${kind}s.members`;
  return [
    route({
      name: `${name}.list`,
      method: 'GET',
      path: base,
      auth: { strategy: 'token' },
      input: ListMembers,
      async handler(ctx, input, services) {
        const source = await sourceOf(ctx, services, kind, input.id);
        await respondWithPage(ctx, services.externalUrl, input, async (window) => {
          const { items, total } = await services.members.direct(source, { query: input.query || undefined, userIds: input.user_ids }, window);
          return { items: items.map((membership) => presentMember(membership, services.externalUrl)), total };
        });
      },
    }),
    route({
      name: `${name}.all`,
      method: 'GET',
      path: `${base}/all`,
      auth: { strategy: 'token' },
      // GitLab's project_members_api limit (it applies it to both sources' /members/all).
      rateLimit: { max: 200, windowMs: 60_000, by: 'user' },
      input: ListAllMembers,
      async handler(ctx, input, services) {
        const source = await sourceOf(ctx, services, kind, input.id);
        await respondWithPage(ctx, services.externalUrl, input, async (window) => {
          // Every membership here is active: `state=awaiting` lists none.
          if (input.state === 'awaiting') return { items: [], total: 0 };
          const { items, total } = await services.members.all(source, { query: input.query || undefined, userIds: input.user_ids }, window);
          return { items: items.map((membership) => presentMember(membership, services.externalUrl)), total };
        });
      },
    }),
    route({
      name: `${name}.show`,
      method: 'GET',
      path: `${base}/:user_id`,
      auth: { strategy: 'token' },
      input: MemberRef,
      async handler(ctx, input, services) {
        const source = await sourceOf(ctx, services, kind, input.id);
        ctx.body = presentMember(await services.members.findDirect(source, input.user_id), services.externalUrl);
      },
    }),
    route({
      name: `${name}.all.show`,
      method: 'GET',
      path: `${base}/all/:user_id`,
      auth: { strategy: 'token' },
      input: MemberRef,
      async handler(ctx, input, services) {
        const source = await sourceOf(ctx, services, kind, input.id);
        ctx.body = presentMember(await services.members.findEffective(source, input.user_id), services.externalUrl);
      },
    }),
    route({
      name: `${name}.update`,
      method: 'PUT',
      path: `${base}/:user_id`,
      auth: { strategy: 'token' },
      input: UpdateMember,
      async handler(ctx, input, services) {
        const source = await sourceOf(ctx, services, kind, input.id);
        const updated = await services.members.update(callerOf(ctx), source, input.user_id, { accessLevel: input.access_level, expiresAt: input.expires_at });
        ctx.body = presentMember(updated, services.externalUrl);
      },
    }),
    route({
      name: `${name}.delete`,
      method: 'DELETE',
      path: `${base}/:user_id`,
      auth: { strategy: 'token' },
      // GitLab's members_delete limit: 60 a minute per source and user.
      rateLimit: { max: 60, windowMs: 60_000, by: (ctx) => `${kind}:${String(ctx.state.params.id)}:${ctx.state.principal?.user?.id ?? ctx.ip}` },
      input: RemoveMember,
      async handler(ctx, input, services) {
        const source = await sourceOf(ctx, services, kind, input.id);
        await services.members.remove(callerOf(ctx), source, input.user_id);
        noContent(ctx);
      },
    }),
  ];
}

/** `GET`, `PUT` and `DELETE` on group and project members (adding them is in projects-routes). */
export const membersRoutes = [...memberRoutes('group'), ...memberRoutes('project')];
