import { routeFor, type RouteDefinition } from '../../core/plugins/types.js';
import type { InternalApiServices } from './manifest.js';

const route = routeFor<InternalApiServices>();

export const hookRoutes: RouteDefinition<InternalApiServices, any>[] = [];
void route;
