import { definePlugin } from 'gatehouse';
import { proxyConfig } from './config.js';
import { IdentityTokens } from './identity.js';
import { proxyFlags, proxyRoutes } from './routes.js';
import { ProxyRoute } from './service.js';
import type { ProxyServices } from './services.js';

export const proxyPlugin = definePlugin({
  name: 'proxy',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'Operators\' own services behind gatehouse: routes from config, authenticated, flagged and rate limited, with the caller\'s identity passed on.',
  config: proxyConfig,
  configFlags: proxyFlags,
  services: (deps): ProxyServices => {
    const { config } = deps;
    const routes = new Map<string, ProxyRoute>();
    for (const entry of config.routes) {
      const upstream = deps.upstreams.create({
        name: `proxy.${entry.name}`,
        targets: entry.upstreams,
        connections: entry.connections,
        firstByteTimeoutMs: entry.timeoutMs,
        idleTimeoutMs: entry.timeoutMs,
      });
      const identity =
        entry.identity === 'jwt'
          ? new IdentityTokens({
              keys: deps.instanceKeys,
              issuer: deps.app.externalUrl,
              audience: entry.name,
              lifetimeS: config.identityTokenLifetimeS,
              clock: deps.clock,
              max: config.identityTokenCacheSize,
            })
          : undefined;
      routes.set(entry.name, new ProxyRoute(entry, upstream, identity));
    }
    return { routes };
  },
  routes: proxyRoutes,
});
