import type { InternalApiService } from './service.js';

/** GitLab's GitAccess: who may pull or push which repository, over which protocol (`/internal/allowed`). */
export class GitAccess {
  constructor(private readonly internal: InternalApiService) {}
}
