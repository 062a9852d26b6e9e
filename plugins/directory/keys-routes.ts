import { z, NotFoundError, callerOf, created, noContent, paginationShape, respondWithPage, p, routeFor } from 'gatehouse';
import { KEY_USAGE_TYPES } from './keys-repository.js';
import type { AddKeyInput } from './keys-service.js';
import { presentKey } from './presenter.js';
import type { DirectoryServices } from './services.js';

const route = routeFor<DirectoryServices>();

const USER = 'User';
const KEY = 'Key';
/** GitLab lets `read_user` tokens read the caller's keys (`allow_access_with_scope :read_user` for GET). */
const READ_USER = ['read_user'] as const;

/** A new key's parameters, in GitLab's declaration order (`key is missing, title is missing`). */
const keyShape = {
  key: p.string(),
  title: p.string(),
  expires_at: p.datetime().optional(),
  usage_type: p.values(KEY_USAGE_TYPES).optional(),
};

const ListOwnKeys = z.object(paginationShape);
const AddOwnKey = z.object(keyShape);
const AddUserKey = z.object({ user_id: p.integer(), ...keyShape });
const OwnKeyId = z.object({ key_id: p.integer() });

const toAddKeyInput = (input: z.output<typeof AddOwnKey>): AddKeyInput => ({
  title: input.title,
  key: input.key,
  expiresAt: input.expires_at ?? null,
  usageType: input.usage_type,
});

export const keysRoutes = [
  route({
    name: 'directory.keys.list-own',
    method: 'GET',
    path: '/api/v4/user/keys',
    auth: { strategy: 'token', scopes: READ_USER },
    input: ListOwnKeys,
    async handler(ctx, input, services) {
      await respondWithPage(ctx, services.externalUrl, input, async (window) => {
        const { keys, total } = await services.keys.listForUser(callerOf(ctx).id, window);
        return { items: keys.map(presentKey), total };
      });
    },
  }),
  route({
    name: 'directory.keys.create-own',
    method: 'POST',
    path: '/api/v4/user/keys',
    auth: { strategy: 'token' },
    input: AddOwnKey,
    async handler(ctx, input, services) {
      const key = await services.keys.add(callerOf(ctx).id, toAddKeyInput(input));
      created(ctx, presentKey(key));
    },
  }),
  route({
    name: 'directory.keys.delete-own',
    method: 'DELETE',
    path: '/api/v4/user/keys/:key_id',
    auth: { strategy: 'token' },
    input: OwnKeyId,
    async handler(ctx, input, services) {
      // Someone else's key answers exactly like a missing one: no existence leak.
      const key = await services.keys.findOwned(callerOf(ctx).id, input.key_id);
      if (!key) throw new NotFoundError(KEY);
      await services.keys.remove(key);
      noContent(ctx);
    },
  }),
  route({
    name: 'directory.keys.create-for-user',
    method: 'POST',
    path: '/api/v4/users/:user_id/keys',
    auth: { strategy: 'admin' },
    input: AddUserKey,
    async handler(ctx, input, services) {
      const user = await services.users.findById(input.user_id);
      if (!user) throw new NotFoundError(USER);
      const key = await services.keys.add(user.id, toAddKeyInput(input));
      created(ctx, presentKey(key));
    },
  }),
];
