import { routeFor, type RouteDefinition } from '../../core/plugins/types.js';
import type { InternalApiServices } from './manifest.js';

const route = routeFor<InternalApiServices>();

export const accountRoutes: RouteDefinition<InternalApiServices, any>[] = [];
void route;
