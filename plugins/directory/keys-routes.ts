import {
  z,
  NotFoundError,
  RecordNotFoundError,
  ServiceError,
  callerOf,
  created,
  iso,
  noContent,
  paginationShape,
  respondWithPage,
  p,
  routeFor,
  type GatehouseContext,
} from 'gatehouse';
import { KEY_USAGE_TYPES, type SshKey } from './keys-repository.js';
import type { AddKeyInput } from './keys-service.js';
import { presentKey, presentKeyWithUser, presentStoredKey } from './presenter.js';
import type { DirectoryServices } from './services.js';
import type { User } from './users-repository.js';
import { checkUnmodifiedSince } from './users-preconditions.js';

const route = routeFor<DirectoryServices>();

const USER = 'User';
const KEY = 'Key';
/** `GET /keys?fingerprint=` with a value that is neither an MD5 nor a SHA-256 fingerprint. */
const FINGERPRINT_FAILED = 'Failed to return the key';
/** GitLab lets `read_user` tokens read keys (`allow_access_with_scope :read_user` for GET). */
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
/** `:user_id` is an id or a username (GitLab's `find_user`). */
const ListUserKeys = z.object({ user_id: p.string(), ...paginationShape });
const UserKeyId = z.object({ id: p.integer(), key_id: p.integer() });
const KeyId = z.object({ id: p.integer() });
const KeyByFingerprint = z.object({ fingerprint: p.string() });

const toAddKeyInput = (input: z.output<typeof AddOwnKey>): AddKeyInput => ({
  title: input.title,
  key: input.key,
  expiresAt: input.expires_at ?? null,
  usageType: input.usage_type,
});

/** The user with this id, or `404 User Not Found`. */
async function findUser(services: DirectoryServices, id: number): Promise<User> {
  const user = await services.users.findById(id);
  if (!user) throw new NotFoundError(USER);
  return user;
}

/** The user `:user_id` names by id or username, or `404 User Not Found`. */
async function findUserByIdOrUsername(services: DirectoryServices, idOrUsername: string): Promise<User> {
  const user = await services.users.findByIdOrUsername(idOrUsername);
  if (!user) throw new NotFoundError(USER);
  return user;
}

/** User `userId`'s key with this id; someone else's key or a deploy key answers exactly like a missing one. */
async function findKeyOf(services: DirectoryServices, userId: number, keyId: number): Promise<SshKey> {
  const key = await services.keys.findOwned(userId, keyId);
  if (!key) throw new NotFoundError(KEY);
  return key;
}

/** A page of `user`'s keys, as `SSHKey` entities. */
async function respondWithKeysOf(ctx: GatehouseContext, services: DirectoryServices, user: User, input: { page?: number; per_page?: number }) {
  await respondWithPage(ctx, services.externalUrl, input, async (window) => {
    const { keys, total } = await services.keys.listForUser(user.id, window);
    return { items: keys.map((key) => presentKey(key, user, services.externalUrl)), total };
  });
}

/** `user`'s key with this id, as an `SSHKey` entity. */
async function respondWithKeyOf(ctx: GatehouseContext, services: DirectoryServices, user: User, keyId: number) {
  ctx.body = presentKey(await findKeyOf(services, user.id, keyId), user, services.externalUrl);
}

/** The caller's own user row (the name in published keys is the current one, not the token's copy). */
async function callerUser(ctx: GatehouseContext, services: DirectoryServices): Promise<User> {
  return findUser(services, callerOf(ctx).id);
}

/**
 * A fingerprint as `GET /keys` takes it: `SHA256:<base64>` (either case of the prefix) or the MD5
 * form `xx:xx:…` (16 hex pairs). Undefined when it is neither.
 */
function parseFingerprint(fingerprint: string): { sha256: string } | { md5: string } | undefined {
  const sha = /^sha256:(.+)$/i.exec(fingerprint);
  if (sha) {
    const bare = sha[1].replace(/=+$/, '');
    if (!/^[A-Za-z0-9+/]+$/.test(bare) || Buffer.from(bare, 'base64').length !== 32) return undefined;
    return { sha256: bare };
  }
  const md5 = fingerprint.replace(/^md5:/i, '').toLowerCase();
  return /^[0-9a-f]{2}(:[0-9a-f]{2}){15}$/.test(md5) ? { md5 } : undefined;
}

/** GitLab's `DeployKeyWithUser` with the projects the key is enabled on (`GET /keys?fingerprint=`). */
async function presentDeployKeyWithUser(services: DirectoryServices, key: SshKey) {
  const links = await services.keys.repository.deployKeyProjects(key.id);
  return {
    ...presentStoredKey(key),
    ...(key.fingerprintMd5 ? { fingerprint: key.fingerprintMd5 } : {}),
    fingerprint_sha256: `SHA256:${key.fingerprintSha256}`,
    // Deploy keys here are not owned by a user.
    user: null,
    deploy_keys_projects: links.map((link) => ({
      id: link.id,
      deploy_key_id: key.id,
      project_id: link.projectId,
      created_at: iso(link.createdAt),
      updated_at: iso(link.createdAt),
      can_push: link.canPush,
    })),
  };
}

/** `SSHKeyWithUser` for a user's key; a deploy key (no owner) shows its stored key and no user. */
async function presentAnyKeyWithUser(services: DirectoryServices, key: SshKey) {
  const owner = key.userId === null ? undefined : await services.users.findById(key.userId);
  if (owner) return presentKeyWithUser(key, owner, services.externalUrl);
  return { ...presentStoredKey(key), user: null };
}

export const keysRoutes = [
  route({
    name: 'directory.keys.list-own',
    method: 'GET',
    path: '/api/v4/user/keys',
    auth: { strategy: 'token', scopes: READ_USER },
    input: ListOwnKeys,
    async handler(ctx, input, services) {
      await respondWithKeysOf(ctx, services, await callerUser(ctx, services), input);
    },
  }),
  route({
    name: 'directory.keys.create-own',
    method: 'POST',
    path: '/api/v4/user/keys',
    auth: { strategy: 'token' },
    input: AddOwnKey,
    async handler(ctx, input, services) {
      const user = await callerUser(ctx, services);
      const key = await services.keys.add(user.id, toAddKeyInput(input));
      created(ctx, presentKey(key, user, services.externalUrl));
    },
  }),
  route({
    name: 'directory.keys.delete-own',
    method: 'DELETE',
    path: '/api/v4/user/keys/:key_id',
    auth: { strategy: 'token' },
    input: OwnKeyId,
    async handler(ctx, input, services) {
      const key = await findKeyOf(services, callerOf(ctx).id, input.key_id);
      // A key is never changed once added: its creation is its last modification.
      checkUnmodifiedSince(ctx, key.createdAt);
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
      const user = await findUser(services, input.user_id);
      const key = await services.keys.add(user.id, toAddKeyInput(input));
      created(ctx, presentKey(key, user, services.externalUrl));
    },
  }),
  route({
    name: 'directory.keys.show-own',
    method: 'GET',
    path: '/api/v4/user/keys/:key_id',
    auth: { strategy: 'token', scopes: READ_USER },
    input: OwnKeyId,
    async handler(ctx, input, services) {
      await respondWithKeyOf(ctx, services, await callerUser(ctx, services), input.key_id);
    },
  }),
  route({
    name: 'directory.keys.list-for-user',
    method: 'GET',
    path: '/api/v4/users/:user_id/keys',
    // Public keys are public, as on GitLab (`https://gitlab.example.com/<username>.keys`).
    auth: { strategy: 'optional_token', scopes: READ_USER },
    rateLimit: { max: 120, windowMs: 60_000, by: 'user' },
    input: ListUserKeys,
    async handler(ctx, input, services) {
      await respondWithKeysOf(ctx, services, await findUserByIdOrUsername(services, input.user_id), input);
    },
  }),
  route({
    name: 'directory.keys.show-for-user',
    method: 'GET',
    path: '/api/v4/users/:id/keys/:key_id',
    auth: { strategy: 'optional_token', scopes: READ_USER },
    rateLimit: { max: 120, windowMs: 60_000, by: 'user' },
    input: UserKeyId,
    async handler(ctx, input, services) {
      await respondWithKeyOf(ctx, services, await findUser(services, input.id), input.key_id);
    },
  }),
  route({
    name: 'directory.keys.delete-for-user',
    method: 'DELETE',
    path: '/api/v4/users/:id/keys/:key_id',
    auth: { strategy: 'admin' },
    input: UserKeyId,
    async handler(ctx, input, services) {
      const user = await findUser(services, input.id);
      const key = await findKeyOf(services, user.id, input.key_id);
      checkUnmodifiedSince(ctx, key.createdAt);
      await services.keys.remove(key);
      noContent(ctx);
    },
  }),
  route({
    name: 'directory.keys.find-by-fingerprint',
    method: 'GET',
    path: '/api/v4/keys',
    // GitLab's keys API is not the users API: `read_user` tokens do not reach it.
    auth: { strategy: 'admin' },
    input: KeyByFingerprint,
    async handler(ctx, input, services) {
      const fingerprint = parseFingerprint(input.fingerprint);
      if (!fingerprint) throw new ServiceError(400, FINGERPRINT_FAILED);
      const key =
        'sha256' in fingerprint
          ? await services.keys.findByFingerprint(fingerprint.sha256)
          : await services.keys.repository.findByMd5Fingerprint(fingerprint.md5);
      if (!key) throw new NotFoundError(KEY);
      ctx.body = key.type === 'deploy_key' ? await presentDeployKeyWithUser(services, key) : await presentAnyKeyWithUser(services, key);
    },
  }),
  route({
    name: 'directory.keys.show',
    method: 'GET',
    path: '/api/v4/keys/:id',
    auth: { strategy: 'admin' },
    input: KeyId,
    async handler(ctx, input, services) {
      const key = await services.keys.findById(input.id);
      // GitLab's `Key.find` raising RecordNotFound: `404 Not found`, lower-case.
      if (!key) throw new RecordNotFoundError();
      ctx.body = await presentAnyKeyWithUser(services, key);
    },
  }),
];
