import {
  z,
  ForbiddenError,
  RouteNotFoundError,
  ModelValidationError,
  NotFoundError,
  paginationShape,
  callerOf,
  created,
  noContent,
  respondWithPage,
  p,
  routeFor,
  ValidationError,
  INVALID,
  type GatehouseContext,
} from 'gatehouse';
import { presentUserBasic, presentUserDetailsWithAdmin, presentUserProfile, presentUserWithAdmin } from './presenter.js';
import { USER_ORDER_COLUMNS, type User, type UserFilter, type UserOrder, type UserState } from './users-repository.js';
import type { DirectoryServices } from './services.js';
import { checkUnmodifiedSince } from './users-preconditions.js';
import { assertOffsetWithinLimit, decodeCursor, keysetPerPage, KEYSET_UNAVAILABLE, PaginationNotAllowedError, setKeysetHeaders } from './users-pagination.js';

const route = routeFor<DirectoryServices>();

const USER = 'User';
const SELF_BLOCK = 'The API initiating user cannot be blocked by the API';
const DEACTIVATED_UNBLOCK = 'Deactivated users cannot be unblocked by the API';
const PASSWORD_BLANK = "can't be blank";
/** GitLab lets `read_user` tokens read users (`allow_access_with_scope :read_user` for GET). */
const READ_USER = ['read_user'] as const;

/** Grape's `at_least_one_of :password, :reset_password, :force_random_password` on `POST /users`. */
const PASSWORD_CHOICES = ['password', 'reset_password', 'force_random_password'] as const;

/** Anonymous callers may list users only to find one by username (GitLab's `read_users_list`). */
const USERS_LIST_ANONYMOUS = 'Not authorized to access /api/v4/users';
const USER_SHOW_ANONYMOUS = 'Not authorized!';
/** Every list GitLab's users API answers is of this type (its offset-limit message names it). */
const USER_TYPE = 'User';
const EXTERN_UID_PROVIDER = 'extern_uid, provider provide all or none of parameters';

const UserId = z.object({ id: p.integer() });
/** `GET /users/:id` matches digits only in GitLab (its route requires `[0-9]*`): anything else is no route. */
const UserPathId = z.object({ id: p.string() });

/** In GitLab's declaration order (lib/api/users.rb), which is the order of its 400 messages. */
const ListUsers = z.object({
  username: p.string().optional(),
  extern_uid: p.string().optional(),
  provider: p.string().optional(),
  search: p.string().optional(),
  active: p.boolean().optional(),
  humans: p.boolean().optional(),
  external: p.boolean().optional(),
  blocked: p.boolean().optional(),
  created_after: p.datetime().optional(),
  created_before: p.datetime().optional(),
  without_projects: p.boolean().optional(),
  exclude_internal: p.boolean().optional(),
  without_project_bots: p.boolean().optional(),
  admins: p.boolean().optional(),
  two_factor: p.values(['enabled', 'disabled']).optional(),
  exclude_active: p.boolean().optional(),
  exclude_external: p.boolean().optional(),
  exclude_humans: p.boolean().optional(),
  public_email: p.string().optional(),
  order_by: p.values(USER_ORDER_COLUMNS).optional(),
  sort: p.values(['asc', 'desc']).optional(),
  pagination: p.values(['offset', 'keyset']).optional(),
  cursor: p.string().optional(),
  ...paginationShape,
});
type ListUsersInput = z.output<typeof ListUsers>;

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
  public_email: p.string().optional(),
  external: p.boolean().optional(),
  note: p.string().optional(),
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
  public_email: p.string().optional(),
  external: p.boolean().optional(),
  note: p.string().optional(),
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

/** GitLab's `UserWithAdmin` for each user, with what it shows from other rows fetched at once. */
export async function presentUsersWithAdmin(services: DirectoryServices, users: readonly User[]) {
  const details = await services.users.adminDetails(users);
  return users.map((user) => presentUserWithAdmin(user, services.externalUrl, details.get(user.id)!));
}

/**
 * The users a caller may list, narrowed by the request's filters (GitLab's UsersFinder). Admins see
 * every user and may use the admin-only filters; everyone else sees no blocked user, and the
 * admin-only filters are dropped silently, as GitLab drops them.
 */
function userFilter(input: ListUsersInput, admin: boolean): UserFilter {
  const filter: UserFilter = {
    username: input.username,
    search: input.search,
    searchEmails: admin,
    publicEmail: input.public_email,
  };
  // GitLab's `without_forbidden_states` for everyone but admins.
  const hidden: UserState[] = admin ? [] : ['blocked'];
  if (input.exclude_active) hidden.push('active');
  if (hidden.length) filter.withoutStates = hidden;
  if (input.active) filter.states = ['active'];
  if (input.blocked) filter.states = filter.states ? filter.states.filter((state) => state === 'blocked') : ['blocked'];
  if (input.external) filter.external = true;
  else if (input.exclude_external) filter.external = false;
  // Every user here is human: asking for non-humans finds nobody. No user here is internal or a bot.
  if (input.exclude_humans) filter.empty = true;
  // No user here has an external identity.
  if (input.extern_uid !== undefined) filter.empty = true;
  if (admin) {
    if (input.admins) filter.admins = true;
    filter.createdAfter = input.created_after;
    filter.createdBefore = input.created_before;
    if (input.two_factor) filter.twoFactor = input.two_factor === 'enabled';
    if (input.without_projects) filter.withoutProjects = true;
  }
  return filter;
}

/**
 * The order of a listing: admins choose (default `id desc`); for everyone else `order_by` and `sort`
 * are dropped, and a search ranks exact matches first as GitLab's `User.search` does.
 */
function userOrder(input: ListUsersInput, admin: boolean): UserOrder | 'search' {
  if (admin) return { by: input.order_by ?? 'id', direction: input.sort ?? 'desc' };
  return input.search ? 'search' : { by: 'id', direction: 'desc' };
}

async function listUsers(ctx: GatehouseContext, input: ListUsersInput, services: DirectoryServices) {
  const principal = ctx.state.principal;
  const viewer = principal?.kind === 'user' ? principal.user : undefined;
  if (!viewer && input.username === undefined) throw new ForbiddenError(USERS_LIST_ANONYMOUS);
  const admin = viewer?.isAdmin ?? false;
  // Grape's `all_or_none_of :extern_uid, :provider`, then the admin check on them.
  if ((input.extern_uid === undefined) !== (input.provider === undefined)) throw new ValidationError([EXTERN_UID_PROVIDER]);
  if (input.extern_uid !== undefined && !admin) throw new ForbiddenError();
  const filter = userFilter(input, admin);
  const order = userOrder(input, admin);
  const present = (users: readonly User[]) =>
    admin ? presentUsersWithAdmin(services, users) : users.map((user) => presentUserBasic(user, services.externalUrl));

  if (input.pagination === 'keyset') {
    if (order === 'search') throw new PaginationNotAllowedError(KEYSET_UNAVAILABLE);
    const perPage = keysetPerPage(input);
    const cursor = input.cursor ? decodeCursor(input.cursor, order) : undefined;
    const { users, more } = await services.users.listKeyset(filter, order, perPage, cursor?.position, cursor?.backwards);
    setKeysetHeaders(ctx, services.externalUrl, order, users, {
      perPage,
      hasNext: cursor?.backwards ? true : more,
      hasPrev: cursor?.backwards ? more : cursor !== undefined,
    });
    ctx.body = await present(users);
    return;
  }
  assertOffsetWithinLimit(input, USER_TYPE);
  await respondWithPage(ctx, services.externalUrl, input, async (window) => {
    const { users, total } = await services.users.list(filter, window, order);
    return { items: await present(users), total };
  });
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
    // GitLab's `authenticate_non_get!`: anyone may ask, the handler decides what they see.
    auth: { strategy: 'optional_token', scopes: READ_USER },
    input: ListUsers,
    handler: listUsers,
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
        publicEmail: input.public_email,
        external: input.external,
        note: input.note,
        createdById: callerOf(ctx).id,
        codeSuggestions: input.code_suggestions,
      });
      created(ctx, (await presentUsersWithAdmin(services, [user]))[0]);
    },
  }),
  route({
    name: 'directory.users.show',
    method: 'GET',
    path: '/api/v4/users/:id',
    auth: { strategy: 'optional_token', scopes: READ_USER },
    // GitLab's `users_get_by_id`: 300 per 10 minutes per user; admins are not limited, and anonymous
    // callers are refused anyway.
    rateLimit: { max: 300, windowMs: 600_000, by: 'user', skip: (ctx) => !ctx.state.principal?.user || ctx.state.principal.user.isAdmin },
    input: UserPathId,
    async handler(ctx, input, services) {
      if (!/^\d+$/.test(input.id)) throw new RouteNotFoundError();
      // Digits beyond the exact integers are refused as an Integer param is (`id is invalid`).
      if (!Number.isSafeInteger(Number(input.id))) throw new ValidationError([`id ${INVALID}`]);
      const principal = ctx.state.principal;
      if (principal?.kind !== 'user') throw new ForbiddenError(USER_SHOW_ANONYMOUS);
      const viewer = principal.user!;
      const user = await findUser(services, Number(input.id));
      if (!viewer.isAdmin) {
        ctx.body = presentUserProfile(user, services.externalUrl, viewer);
        return;
      }
      const [details, highestRole] = await Promise.all([services.users.adminDetails([user]), services.users.highestRole(user.id)]);
      ctx.body = presentUserDetailsWithAdmin(user, services.externalUrl, { ...details.get(user.id)!, highestRole });
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
        publicEmail: input.public_email,
        external: input.external,
        note: input.note,
        twoFactorEnabled: input.two_factor_enabled,
        codeSuggestions: input.code_suggestions,
      });
      ctx.body = (await presentUsersWithAdmin(services, [updated]))[0];
    },
  }),
  route({
    name: 'directory.users.delete',
    method: 'DELETE',
    path: '/api/v4/users/:id',
    auth: { strategy: 'admin' },
    input: UserId,
    async handler(ctx, input, services) {
      const user = await findUser(services, input.id);
      checkUnmodifiedSince(ctx, user.updatedAt);
      // Keys, tokens, memberships, applications and the personal namespace go with the user, at once.
      await services.users.delete(user);
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
