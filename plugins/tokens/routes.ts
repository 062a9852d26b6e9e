import { impersonationRoutes } from './impersonation-routes.js';
import { personalAccessTokenRoutes } from './personal-access-token-routes.js';
import { selfRoutes } from './self-routes.js';
import { userTokenRoutes } from './user-token-routes.js';

/** Every route of the tokens plugin; the self routes come first (GitLab mounts them before `/:id`). */
export const tokenRoutes = [...selfRoutes, ...personalAccessTokenRoutes, ...userTokenRoutes, ...impersonationRoutes];
