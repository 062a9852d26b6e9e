import {
  ForbiddenError,
  InsufficientScopeError,
  InvalidTokenError,
  NotFoundError,
  UnauthorizedError,
  type AuthStrategy,
  type AuthStrategyDocs,
  type GatehouseContext,
  type Principal,
  type PrincipalUser,
  type RouteAuth,
} from 'gatehouse';
import { ANY_SCOPE } from './scopes.js';
import type { AccessToken } from './repository.js';
import { TOKEN_PREFIX, type Resolution, type TokensService } from './service.js';
import type { BearerResolution, User } from './types.js';

/** rack-oauth2's default realm, which GitLab's API guard uses in its challenges. */
export const REALM = 'Protected by OAuth 2.0';
export const EXPIRED = 'Token is expired. You can either do re-authorization or token refresh.';
export const REVOKED = 'Token was revoked. You have to re-authorize from the user.';
export const IMPERSONATION_DISABLED = 'Token is an impersonation token but impersonation was disabled.';
export const BLOCKED = 'Your account has been blocked.';
export const SUDO_NOT_ADMIN = 'Must be admin to use sudo';

const READ_METHODS = new Set(['GET', 'HEAD']);

/** `Authorization: Bearer`, else the `access_token` or `bearer_token` param. */
function bearerOf(ctx: GatehouseContext): string | undefined {
  // Node's parsed headers, read directly: what `ctx.get` returns, without its lookup per call.
  const bearer = /^Bearer\s+(.+)$/i.exec(ctx.req.headers.authorization ?? '');
  if (bearer) return bearer[1].trim();
  for (const name of ['access_token', 'bearer_token']) {
    const value = ctx.state.params[name];
    if (typeof value === 'string' && value) return value;
  }
  return undefined;
}

/** The personal access token param or header, when one is sent (it wins over any bearer token). */
function privateTokenOf(ctx: GatehouseContext): string | undefined {
  const param = ctx.state.params.private_token;
  if (typeof param === 'string' && param) return param;
  const header = ctx.req.headers['private-token'];
  return (Array.isArray(header) ? header.join(', ') : header) || undefined;
}

/** The credential a request presents: `private_token` param wins, then PRIVATE-TOKEN, then Bearer. */
export function presentedToken(ctx: GatehouseContext): string | undefined {
  return privateTokenOf(ctx) ?? bearerOf(ctx);
}

/** The bearer token of a request that sends no personal access token param or header: what may be an OAuth access token. */
export function presentedBearerToken(ctx: GatehouseContext): string | undefined {
  return privateTokenOf(ctx) === undefined ? bearerOf(ctx) : undefined;
}

/** The scopes that satisfy a route: `api`, `read_api` for reads, plus what the route adds. */
export function acceptableScopes(method: string, auth: RouteAuth): readonly string[] {
  const extra = 'scopes' in auth && auth.scopes ? auth.scopes : [];
  if (extra.includes(ANY_SCOPE)) return [ANY_SCOPE];
  const base = READ_METHODS.has(method) ? ['api', 'read_api'] : ['api'];
  return [...new Set([...base, ...extra])];
}

export function deactivatedMessage(externalUrl: string) {
  return `Your account has been deactivated by your administrator. Please log back in from a web browser to reactivate your account at ${externalUrl}`;
}

export const toPrincipalUser = (user: User): PrincipalUser => ({
  id: user.id,
  username: user.username,
  name: user.name,
  isAdmin: user.isAdmin,
  state: user.state,
});

/** The token row a request authenticated with, when it was a personal access or impersonation token. */
export function accessTokenOf(principal: Principal | undefined): AccessToken | undefined {
  const credential = principal?.credential;
  return credential?.type === 'personal_access_token' || credential?.type === 'impersonation_token' ? credential.details : undefined;
}

function principalOf(token: AccessToken, user: User, adminMode: boolean): Principal {
  return Object.freeze({
    kind: 'user',
    // With admin mode on, admin powers need a token carrying `admin_mode`; without it the admin is
    // a regular user everywhere (routes that show admins more see isAdmin false).
    user: Object.freeze({ ...toPrincipalUser(user), isAdmin: user.isAdmin && (!adminMode || token.scopes.includes('admin_mode')) }),
    // The row itself, not a copy: the handler sees the `last_used_at` this request wrote.
    credential: Object.freeze({
      type: token.impersonation ? 'impersonation_token' : 'personal_access_token',
      id: token.id,
      details: token,
    }),
  } as const);
}

/** Users who cannot use the API get 403 with GitLab's reason. */
function assertCanUseApi(user: User, externalUrl: string) {
  if (user.state === 'blocked') throw new ForbiddenError(BLOCKED);
  if (user.state === 'deactivated') throw new ForbiddenError(deactivatedMessage(externalUrl));
}

export interface TokenStrategyOptions {
  service: TokensService;
  externalUrl: string;
  impersonationEnabled: boolean;
  /** With admin mode on, admin powers need a token with the `admin_mode` scope. */
  adminMode: boolean;
}

/** The token credentials, as the OpenAPI document names them. */
const TOKEN_SCHEMES: AuthStrategyDocs['schemes'] = {
  private_token: {
    type: 'apiKey',
    in: 'header',
    name: 'PRIVATE-TOKEN',
    description: 'A personal access token or impersonation token (the `private_token` query parameter is accepted too).',
  },
  bearer_token: {
    type: 'http',
    scheme: 'bearer',
    description: 'An OAuth access token or a personal access token (the `access_token` query parameter is accepted too).',
  },
};
const TOKEN_DOCS: AuthStrategyDocs = { schemes: TOKEN_SCHEMES, alternatives: [['private_token'], ['bearer_token']] };
// GitLab's reads open to anonymous callers: a token, or nothing at all (the empty alternative).
const OPTIONAL_TOKEN_DOCS: AuthStrategyDocs = { schemes: TOKEN_SCHEMES, alternatives: [['private_token'], ['bearer_token'], []] };

/**
 * The `token` strategy: personal access and impersonation tokens from `private_token`, `PRIVATE-TOKEN`
 * or `Authorization: Bearer`, scope checks per route, blocked users refused, and `Sudo` for admins.
 */
export function tokenStrategy(options: TokenStrategyOptions): AuthStrategy<readonly string[]> {
  const { service } = options;
  /** The checks after the token is known, in GitLab's AccessTokenValidationService order. */
  const admit = (ctx: GatehouseContext, acceptable: readonly string[], resolved: Resolution): Principal | Promise<Principal> => {
    if (resolved.problem === 'unknown') throw new UnauthorizedError();
    if (resolved.problem === 'expired') throw new InvalidTokenError(EXPIRED, REALM);
    if (resolved.problem === 'revoked') {
      // A revoked token presented again may be a leaked, rotated one: revoke what was rotated from it.
      return service.revokeDescendants(resolved.token).then(() => {
        throw new InvalidTokenError(REVOKED, REALM);
      });
    }
    const { token, user } = resolved;

    // Expired, revoked, scope, then impersonation.
    if (acceptable[0] !== ANY_SCOPE && !token.scopes.some((scope) => acceptable.includes(scope))) {
      throw new InsufficientScopeError(acceptable);
    }
    if (token.impersonation && !options.impersonationEnabled) throw new InvalidTokenError(IMPERSONATION_DISABLED, REALM);
    assertCanUseApi(user, options.externalUrl);

    // The principal of a cached token is built once per cache entry (dropped with it on any change).
    const principal = (resolved.principal ??= principalOf(token, user, options.adminMode));
    const sudo = sudoTarget(ctx);
    return sudo ? applySudo(sudo, principal, token.scopes, options) : principal;
  };
  /** An OAuth (or other bearer) token: the same checks as a PAT's, in the same order. */
  const admitBearer = (ctx: GatehouseContext, acceptable: readonly string[], resolved: BearerResolution): Principal | Promise<Principal> => {
    if (resolved.problem === 'unknown') throw new UnauthorizedError();
    if (resolved.problem === 'expired') throw new InvalidTokenError(EXPIRED, REALM);
    if (resolved.problem === 'revoked') throw new InvalidTokenError(REVOKED, REALM);
    if (acceptable[0] !== ANY_SCOPE && !resolved.scopes.some((scope) => acceptable.includes(scope))) throw new InsufficientScopeError(acceptable);
    const { user } = resolved;
    assertCanUseApi(user, options.externalUrl);
    const principal: Principal = Object.freeze({
      kind: 'user',
      user: Object.freeze({ ...toPrincipalUser(user), isAdmin: user.isAdmin && (!options.adminMode || resolved.scopes.includes('admin_mode')) }),
      credential: resolved.credential,
    } as const);
    const sudo = sudoTarget(ctx);
    return sudo ? applySudo(sudo, principal, resolved.scopes, options) : principal;
  };
  /** A bearer token the resolver knows, admitted; undefined when it is not one of its tokens (then tried as a PAT). */
  const viaResolver = (ctx: GatehouseContext, acceptable: readonly string[], presented: string): Principal | Promise<Principal> | undefined => {
    const resolver = service.bearerResolver;
    if (!resolver || presented.startsWith(TOKEN_PREFIX) || presented !== presentedBearerToken(ctx)) return undefined;
    const resolved = resolver.resolve(presented);
    if (resolved instanceof Promise) {
      return resolved.then((answer) => (answer.problem === 'unknown' ? admitPat(ctx, acceptable, presented) : admitBearer(ctx, acceptable, answer)));
    }
    return resolved.problem === 'unknown' ? undefined : admitBearer(ctx, acceptable, resolved);
  };
  const admitPat = (ctx: GatehouseContext, acceptable: readonly string[], presented: string): Principal | Promise<Principal> => {
    const resolved = service.resolve(presented);
    return resolved instanceof Promise ? resolved.then((answer) => admit(ctx, acceptable, answer)) : admit(ctx, acceptable, resolved);
  };
  return {
    openapi: TOKEN_DOCS,
    prepare: (auth, route) => acceptableScopes(route.method, auth),
    // Synchronous for a cached token (no promise on the hot path); a promise when the database is asked.
    authenticate(ctx, _auth, acceptable) {
      const presented = presentedToken(ctx);
      if (!presented) throw new UnauthorizedError();
      return viaResolver(ctx, acceptable, presented) ?? admitPat(ctx, acceptable, presented);
    },
  };
}

/** The user named by the `sudo` param or `Sudo` header, if any. */
function sudoTarget(ctx: GatehouseContext): string {
  const param = ctx.state.params.sudo;
  // Node's parsed header, read directly: what `ctx.get('Sudo')` returns, without its lookup per call.
  return (typeof param === 'string' || typeof param === 'number' ? String(param) : '') || (ctx.req.headers.sudo as string | undefined) || '';
}

/** `Sudo` header or `sudo` param: an admin with a `sudo`-scoped token acts as another user. */
async function applySudo(target: string, principal: Principal, scopes: readonly string[], options: TokenStrategyOptions) {
  if (!principal.user!.isAdmin) throw new ForbiddenError(SUDO_NOT_ADMIN);
  if (!scopes.includes('sudo')) throw new InsufficientScopeError(['sudo']);
  const users = options.service.directory.users;
  const user = /^\d+$/.test(target) ? await users.findById(Number(target)) : await users.findByUsername(target);
  if (!user) throw new NotFoundError(`User with ID or username '${target}'`);
  assertCanUseApi(user, options.externalUrl);
  return { ...principal, user: toPrincipalUser(user), sudoer: principal.user };
}

/** The `admin` strategy: the `token` strategy, then 403 `{"message":"403 Forbidden"}` for non-admins. */
export function adminStrategy(options: TokenStrategyOptions): AuthStrategy<readonly string[]> {
  const token = tokenStrategy(options);
  return {
    openapi: TOKEN_DOCS,
    prepare: token.prepare,
    async authenticate(ctx, auth, acceptable) {
      const principal = await token.authenticate(ctx, auth, acceptable);
      const user = principal.user!;
      if (!user.isAdmin) throw new ForbiddenError();
      return principal;
    },
  };
}

/**
 * The `optional_token` strategy, for GitLab's `authenticate_non_get!` reads (users, groups, projects):
 * no credentials at all → an anonymous principal, so the handler decides what nobody may see; a
 * presented credential is checked exactly as the `token` strategy checks it (an unknown token is 401,
 * never a silent fall back to anonymous).
 */
export function optionalTokenStrategy(options: TokenStrategyOptions): AuthStrategy<readonly string[]> {
  const token = tokenStrategy(options);
  return {
    openapi: OPTIONAL_TOKEN_DOCS,
    prepare: token.prepare,
    authenticate(ctx, auth, acceptable) {
      if (!presentedToken(ctx)) return ANONYMOUS;
      return token.authenticate(ctx, auth, acceptable);
    },
  };
}

const ANONYMOUS: Principal = Object.freeze({ kind: 'anonymous' });
