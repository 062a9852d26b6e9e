import { callerOf, routeFor, UnauthorizedError } from 'gatehouse';
import { presentUserPublic } from './presenter.js';
import type { DirectoryServices } from './services.js';
import { presentUsersWithAdmin, usersRoutes } from './users-routes.js';
import { keysRoutes } from './keys-routes.js';
import { projectsRoutes } from './projects-routes.js';
import { namespacesRoutes } from './namespaces-routes.js';
import { groupListRoutes } from './groups-routes.js';
import { projectListRoutes } from './projects-list-routes.js';
import { membersRoutes } from './members-routes.js';

const route = routeFor<DirectoryServices>();

/** Scopes that may read the caller's own identity (GitLab allows `read_user` here). */
const READ_USER = ['read_user'] as const;

const identityRoutes = [
  route({
    name: 'directory.version',
    method: 'GET',
    path: '/api/v4/version',
    auth: { strategy: 'token', scopes: [...READ_USER, 'ai_features'] },
    handler(ctx, _input, services) {
      ctx.body = { version: services.version.version, revision: services.version.revision };
    },
  }),
  route({
    name: 'directory.current-user',
    method: 'GET',
    path: '/api/v4/user',
    auth: { strategy: 'token', scopes: [...READ_USER] },
    async handler(ctx, _input, services) {
      const user = await services.users.findById(callerOf(ctx).id);
      // Deleted after this request authenticated: its token went with it.
      if (!user) throw new UnauthorizedError();
      // GitLab shows admins their admin entity whether or not admin mode is on (`user.admin?`).
      ctx.body = user.isAdmin ? (await presentUsersWithAdmin(services, [user]))[0] : presentUserPublic(user, services.externalUrl);
    },
  }),
];

export const directoryRoutes = [...identityRoutes, ...usersRoutes, ...keysRoutes, ...projectsRoutes, ...namespacesRoutes, ...groupListRoutes, ...projectListRoutes, ...membersRoutes];
