import type { InternalApiService } from './service.js';

/** What internal-api exports: the service (e.g. for verifying the LFS tokens it issues). */
export interface InternalApiServices {
  internal: InternalApiService;
}

declare module 'gatehouse' {
  interface PluginServices {
    'internal-api': InternalApiServices;
  }
}
