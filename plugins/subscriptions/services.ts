import type { SubscriptionsService } from './service.js';

/** The plugin's composition root; nothing is exported to other plugins. */
export interface SubscriptionsServices {
  subscriptions: SubscriptionsService;
}
