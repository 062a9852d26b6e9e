import { routeFor } from '../../core/plugins/types.js';
import type { DirectoryServices } from './manifest.js';

const route = routeFor<DirectoryServices>();

export const keysRoutes = [

].map((r) => r);
