import type { ProxyRoute } from './service.js';

/** What the plugin holds: each configured route by name. */
export interface ProxyServices {
  routes: ReadonlyMap<string, ProxyRoute>;
}

declare module 'gatehouse' {
  interface PluginServices {
    proxy: ProxyServices;
  }
}
