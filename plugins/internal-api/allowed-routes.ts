import { routeFor, type RouteDefinition } from '../../core/plugins/types.js';
import type { InternalApiServices } from './manifest.js';

const route = routeFor<InternalApiServices>();

export const allowedRoutes: RouteDefinition<InternalApiServices, any>[] = [];
void route;
