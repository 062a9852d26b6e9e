import { allowedRoutes } from './allowed-routes.js';
import { accountRoutes } from './account-routes.js';
import { hookRoutes } from './hook-routes.js';

/** Every `/api/v4/internal/*` route GitLab Shell and Gitaly call. */
export const internalApiRoutes = [...allowedRoutes, ...accountRoutes, ...hookRoutes];
