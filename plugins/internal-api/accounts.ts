import type { InternalApiService } from './service.js';

/** Keys, users, recovery codes, tokens and LFS over SSH: the non-git-access internal endpoints. */
export class Accounts {
  constructor(private readonly internal: InternalApiService) {}
}
