import type { InternalApiService } from './service.js';

/** Gitaly's pre-receive and post-receive hooks: the per-repository reference counter and push messages. */
export class PushHooks {
  constructor(private readonly internal: InternalApiService) {}
}
