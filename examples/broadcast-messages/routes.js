import { NotFoundError, pageOf, setPaginationHeaders } from 'gatehouse';
import { CreateParams, IdParams, ListParams, UpdateParams } from './params.js';
import { presentMessage } from './presenter.js';

const BROADCAST_MESSAGE = 'Broadcast Message';
const FLAG = 'broadcast_messages_api';
/** Since GitLab 12.8 anybody may read broadcast messages: every page shows them, signed in or not. */
const PUBLIC = { strategy: 'none', reason: 'broadcast messages are shown to everyone, signed in or not (GitLab 12.8+)' };
const ADMIN = { strategy: 'admin' };

async function findOr404(services, id) {
  const message = await services.messages.find(id);
  if (!message) throw new NotFoundError(BROADCAST_MESSAGE);
  return message;
}

export const routes = [
  {
    name: 'broadcast-messages.list',
    method: 'GET',
    path: '/api/v4/broadcast_messages',
    summary: 'List broadcast messages, newest first',
    successStatus: 200,
    auth: PUBLIC,
    flag: FLAG,
    input: ListParams,
    async handler(ctx, input, services) {
      const page = pageOf(input);
      const { messages, total } = await services.messages.list({ offset: page.offset, limit: page.perPage });
      setPaginationHeaders(ctx, services.externalUrl, page, total);
      const now = services.clock.now();
      ctx.body = messages.map((message) => presentMessage(message, now));
    },
  },
  {
    name: 'broadcast-messages.show',
    method: 'GET',
    path: '/api/v4/broadcast_messages/:id',
    summary: 'Get one broadcast message',
    successStatus: 200,
    auth: PUBLIC,
    flag: FLAG,
    input: IdParams,
    async handler(ctx, input, services) {
      ctx.body = presentMessage(await findOr404(services, input.id), services.clock.now());
    },
  },
  {
    name: 'broadcast-messages.create',
    method: 'POST',
    path: '/api/v4/broadcast_messages',
    summary: 'Create a broadcast message',
    successStatus: 201,
    auth: ADMIN,
    flag: FLAG,
    input: CreateParams,
    async handler(ctx, input, services) {
      const message = await services.messages.create(input);
      ctx.status = 201;
      ctx.body = presentMessage(message, services.clock.now());
    },
  },
  {
    name: 'broadcast-messages.update',
    method: 'PUT',
    path: '/api/v4/broadcast_messages/:id',
    summary: 'Update a broadcast message',
    successStatus: 200,
    auth: ADMIN,
    flag: FLAG,
    input: UpdateParams,
    async handler(ctx, input, services) {
      const { id, ...params } = input;
      const message = await services.messages.update(id, params);
      if (!message) throw new NotFoundError(BROADCAST_MESSAGE);
      ctx.body = presentMessage(message, services.clock.now());
    },
  },
  {
    name: 'broadcast-messages.delete',
    method: 'DELETE',
    path: '/api/v4/broadcast_messages/:id',
    summary: 'Delete a broadcast message; answers with the deleted message',
    successStatus: 200,
    auth: ADMIN,
    flag: FLAG,
    input: IdParams,
    async handler(ctx, input, services) {
      const message = await services.messages.delete(input.id);
      if (!message) throw new NotFoundError(BROADCAST_MESSAGE);
      ctx.body = presentMessage(message, services.clock.now());
    },
  },
];
