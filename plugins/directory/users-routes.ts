import {
  z,
  ForbiddenError,
  ModelValidationError,
  NotFoundError,
  paginationShape,
  callerOf,
  created,
  noContent,
  respondWithPage,
  p,
  routeFor,
  type GatehouseContext,
} from 'gatehouse';
import { presentUser, presentUserBasic } from './presenter.js';
import { USER_ORDER_COLUMNS, type User } from './users-repository.js';
import type { DirectoryServices } from './services.js';

const route = routeFor<DirectoryServices>();

const USER = 'User';
const SELF_BLOCK = 'The API initiating user cannot be blocked by the API';
const DEACTIVATED_UNBLOCK = 'Deactivated users cannot be unblocked by the API';
const PASSWORD_BLANK = "can't be blank";
/** GitLab lets `read_user` tokens read users (`allow_access_with_scope :read_user` for GET). */
const READ_USER = ['read_user'] as const;

/** Grape's `at_least_one_of :password, :reset_password, :force_random_password` on `POST /users`. */
const PASSWORD_CHOICES = ['password', 'reset_password', 'force_random_password'] as const;

const UserId = z.object({ id: p.integer() });

const ListUsers = z.object({
  username: p.string().optional(),
  order_by: p.values(USER_ORDER_COLUMNS).optional(),
  sort: p.values(['asc', 'desc']).optional(),
  ...paginationShape,
});

/** In GitLab's declaration order, which is the order of its 400 messages. */
const CreateUser = z.object({
  email: p.string(),
  password: p.string().optional(),
  reset_password: p.boolean().optional(),
  skip_confirmation: p.boolean().optional(),
  name: p.string(),
  username: p.string(),
  force_random_password: p.boolean().optional(),
  admin: p.boolean().optional(),
  /** The personal namespace's Code Suggestions switch, as `PUT /groups/:id` sets a group's. */
  code_suggestions: p.boolean().optional(),
});
const UpdateUser = z.object({
  id: p.integer(),
  email: p.string().optional(),
  password: p.string().optional(),
  name: p.string().optional(),
  username: p.string().optional(),
  admin: p.boolean().optional(),
  /** A gatehouse extension: operators importing users carry their 2FA state over. */
  two_factor_enabled: p.boolean().optional(),
  code_suggestions: p.boolean().optional(),
});

/** The user with this id, or GitLab's 404 `{"message":"404 User Not Found"}`. */
async function findUser(services: DirectoryServices, id: number): Promise<User> {
  const user = await services.users.findById(id);
  if (!user) throw new NotFoundError(USER);
  return user;
}

/** Admins and the user themself see the full entity; everyone else the basic one. */
function presentFor(ctx: GatehouseContext, user: User, externalUrl: string) {
  const viewer = callerOf(ctx);
  return viewer.isAdmin || viewer.id === user.id ? presentUser(user, externalUrl) : presentUserBasic(user, externalUrl);
}

/** GitLab answers block and unblock with 201 and the body `true`. */
function answerTrue(ctx: GatehouseContext) {
  created(ctx, true);
}

export const usersRoutes = [
  route({
    name: 'directory.users.list',
    method: 'GET',
    path: '/api/v4/users',
    auth: { strategy: 'admin' },
    input: ListUsers,
    async handler(ctx, input, services) {
      const order = { by: input.order_by ?? 'id', direction: input.sort ?? 'desc' } as const;
      await respondWithPage(ctx, services.externalUrl, input, async (window) => {
        const { users, total } = await services.users.list({ username: input.username }, window, order);
        return { items: users.map((user) => presentUser(user, services.externalUrl)), total };
      });
    },
  }),
  route({
    name: 'directory.users.create',
    method: 'POST',
    path: '/api/v4/users',
    auth: { strategy: 'admin' },
    input: CreateUser,
    // GitLab declares the group after skip_confirmation, so its message comes before `name`'s.
    inputGroups: [{ rule: 'at_least_one_of', names: PASSWORD_CHOICES, before: 'name' }],
    async handler(ctx, input, services) {
      // GitLab replaces any given password with a random one when either flag is set.
      const randomPassword = Boolean(input.force_random_password || input.reset_password);
      if (!randomPassword && input.password === undefined) throw new ModelValidationError({ password: [PASSWORD_BLANK] });
      const user = await services.users.create({
        username: input.username,
        name: input.name,
        email: input.email,
        password: randomPassword ? undefined : input.password,
        forceRandomPassword: randomPassword,
        isAdmin: input.admin ?? false,
        codeSuggestions: input.code_suggestions,
      });
      created(ctx, presentUser(user, services.externalUrl));
    },
  }),
  route({
    name: 'directory.users.show',
    method: 'GET',
    path: '/api/v4/users/:id',
    auth: { strategy: 'token', scopes: READ_USER },
    input: UserId,
    async handler(ctx, input, services) {
      ctx.body = presentFor(ctx, await findUser(services, input.id), services.externalUrl);
    },
  }),
  route({
    name: 'directory.users.update',
    method: 'PUT',
    path: '/api/v4/users/:id',
    auth: { strategy: 'admin' },
    input: UpdateUser,
    async handler(ctx, input, services) {
      const user = await findUser(services, input.id);
      const updated = await services.users.update(user, {
        email: input.email,
        password: input.password,
        name: input.name,
        username: input.username,
        isAdmin: input.admin,
        twoFactorEnabled: input.two_factor_enabled,
        codeSuggestions: input.code_suggestions,
      });
      ctx.body = presentUser(updated, services.externalUrl);
    },
  }),
  route({
    name: 'directory.users.delete',
    method: 'DELETE',
    path: '/api/v4/users/:id',
    auth: { strategy: 'admin' },
    input: UserId,
    async handler(ctx, input, services) {
      // Keys, tokens, memberships and recovery codes go with the user (ON DELETE CASCADE).
      await services.users.delete(await findUser(services, input.id));
      noContent(ctx);
    },
  }),
  route({
    name: 'directory.users.block',
    method: 'POST',
    path: '/api/v4/users/:id/block',
    auth: { strategy: 'admin' },
    input: UserId,
    async handler(ctx, input, services) {
      const user = await findUser(services, input.id);
      // An admin locking themself out by API is refused, as GitLab does.
      if (user.id === callerOf(ctx).id) throw new ForbiddenError(SELF_BLOCK);
      // setState announces the change, so the user's cached tokens stop working on the next request.
      if (user.state !== 'blocked') await services.users.setState(user, 'blocked');
      answerTrue(ctx);
    },
  }),
  route({
    name: 'directory.users.unblock',
    method: 'POST',
    path: '/api/v4/users/:id/unblock',
    auth: { strategy: 'admin' },
    input: UserId,
    async handler(ctx, input, services) {
      const user = await findUser(services, input.id);
      // Deactivation is undone by the user signing in again (or /activate), never by unblock.
      if (user.state === 'deactivated') throw new ForbiddenError(DEACTIVATED_UNBLOCK);
      if (user.state === 'blocked') await services.users.setState(user, 'active');
      answerTrue(ctx);
    },
  }),
];
