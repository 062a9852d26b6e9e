/**
 * GitLab's Broadcast Messages API (`/api/v4/broadcast_messages`) as a gatehouse plugin kept outside the
 * gatehouse repository: plain ES modules that import only `gatehouse`, so it needs no build. Enable it
 * by naming this file in config: `{"plugins":{"broadcast-messages":{"module":"<path>/index.js"}}}`.
 */
import { definePlugin, z } from 'gatehouse';
import { createBroadcastMessages } from './migrations/20261204120000_create_broadcast_messages.js';
import { routes } from './routes.js';
import { MessagesService } from './service.js';

const config = z.object({
  maxMessages: z
    .number()
    .int()
    .positive()
    .default(50)
    .describe('How many broadcast messages may exist at once; creating one more answers 400.'),
});

export default definePlugin({
  name: 'broadcast-messages',
  version: '1.0.0',
  core: '^1.0.0',
  description: "GitLab's Broadcast Messages API: public reads, admin writes.",
  // The admin strategy of the routes that write comes from the tokens plugin, which needs directory.
  dependsOn: ['directory', 'tokens'],
  config,
  flags: [{ name: 'broadcast_messages_api', kind: 'release', default: true, description: 'Serve the Broadcast Messages API.' }],
  migrations: { '20261204120000_create_broadcast_messages': createBroadcastMessages },
  services: ({ db, clock, config: slice, app }) => ({
    messages: new MessagesService({ db, clock, maxMessages: slice.maxMessages }),
    clock,
    externalUrl: app.externalUrl,
  }),
  routes,
});
