import type { Knex } from 'knex';
import type { Clock } from '../../core/plugins/types.js';

/** Namespaces (user namespaces and groups), projects, memberships and deploy keys. */
export class ProjectsService {
  constructor(
    readonly db: Knex,
    readonly clock: Clock,
  ) {}
}
