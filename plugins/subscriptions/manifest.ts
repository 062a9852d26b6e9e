import { z, definePlugin } from 'gatehouse';
import { createSubscriptions } from './migrations/20261201000000_create_subscriptions.js';
import { SubscriptionsService } from './service.js';
import { subscriptionsRoutes } from './routes.js';
import type { SubscriptionsServices } from './services.js';

const config = z.object({});

export const subscriptionsPlugin = definePlugin({
  name: 'subscriptions',
  version: '1.0.0',
  core: '^1.0.0',
  description: "The customers portal's API: namespace subscriptions with seat usage, CI minute packs and upcoming reconciliations.",
  dependsOn: ['directory', 'tokens'],
  config,
  migrations: { '20261201000000_create_subscriptions': createSubscriptions },
  services: (deps): SubscriptionsServices => ({
    subscriptions: new SubscriptionsService(deps.db, deps.clock, deps.plugins.directory),
  }),
  routes: subscriptionsRoutes,
});
