import { createHash } from 'node:crypto';
import { constantTimeEqual, createCache, pepperedDigest, randomHex, type Cache, type Clock, type InstanceKeys, type InvalidationBus, type Knex, type PluginServices } from 'gatehouse';
import { DESCRIPTIONS, OauthError, missingParameter } from './oauth-errors.js';
import { matchesRegistered, NATIVE_REDIRECT_URI } from './redirect-uri.js';
import { ProviderRepository, type AccessGrant, type DeviceGrant, type OauthAccessToken } from './repository.js';
import { DEFAULT_SCOPE } from './scopes.js';
import type { User } from './sessions.js';

type DirectoryServices = PluginServices['directory'];
type ApplicationsService = PluginServices['oauth-applications']['applications'];
export type Application = NonNullable<Awaited<ReturnType<ApplicationsService['findById']>>>;

export interface ProviderSettings {
  accessTokenExpiresIn: number;
  authorizationCodeExpiresIn: number;
  deviceCodeExpiresIn: number;
  devicePollingInterval: number;
  idTokenExpiresIn: number;
  /** PKCE required for public (non-confidential) clients, as OAuth 2.1 asks. */
  requirePkceForPublicClients: boolean;
  principalCacheSize: number;
  principalCacheTtlMs: number;
}

/** A validated authorization request (`/oauth/authorize`). */
export interface AuthorizationRequest {
  application: Application;
  redirectUri: string;
  scopes: string[];
  state?: string;
  responseType: string;
  codeChallenge?: string;
  codeChallengeMethod?: string;
  nonce?: string;
}

/** `POST /oauth/token`'s success body, keys in Doorkeeper's order. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in?: number;
  refresh_token?: string;
  scope: string;
  created_at: number;
  id_token?: string;
}

/** A presented access token resolved for authentication. */
export type TokenResolution =
  | { problem: 'unknown' }
  | { problem: 'expired'; token: OauthAccessToken }
  | { problem: 'revoked'; token: OauthAccessToken }
  | ValidToken;

/** A valid access token with its client and its user (none for client_credentials tokens). */
export interface ValidToken {
  problem?: undefined;
  token: OauthAccessToken;
  application: Application;
  user: User | undefined;
}

/** Client credentials as presented: Basic first, then the body (Doorkeeper's order). */
export interface ClientCredentials {
  clientId?: string;
  clientSecret?: string;
}

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const seconds = (date: Date) => Math.floor(date.getTime() / 1000);
const USER_CODE_LENGTH = 8;
const GRANT_RETENTION_MS = 86_400_000;

type GroupRole = 'owner' | 'maintainer' | 'developer';
/** GitLab's access levels behind the `https://gitlab.org/claims/groups/<role>` claims. */
const ROLE_BY_ACCESS_LEVEL = new Map<number, GroupRole>([
  [50, 'owner'],
  [40, 'maintainer'],
  [30, 'developer'],
]);
const tokenTag = (id: number) => `oauth-token:${id}`;
const applicationTag = (id: number) => `oauth-application:${id}`;
const userTag = (id: number) => `oauth-user:${id}`;
/** A cached resolution is dropped when its token, its application or its user changes. */
const resolutionTags = (resolution: TokenResolution): string[] => {
  if (resolution.problem === 'unknown') return [];
  const { token } = resolution;
  return [tokenTag(token.id), applicationTag(token.applicationId), ...(token.userId === null ? [] : [userTag(token.userId)])];
};
/** What an unknown token resolves to (one object: nothing in it is ever changed). */
const UNKNOWN_TOKEN: TokenResolution = Object.freeze({ problem: 'unknown' });

/**
 * The authorization server: authorization requests and codes, the token endpoint's grants, token
 * resolution for the API (cached, invalidated on every instance on revocation), revocation,
 * introspection, device grants and ID tokens.
 */
export class ProviderService {
  readonly cache: Cache<TokenResolution>;

  constructor(
    readonly repository: ProviderRepository,
    private readonly db: Knex,
    readonly applications: ApplicationsService,
    readonly directory: DirectoryServices,
    private readonly clock: Clock,
    bus: InvalidationBus,
    private readonly pepper: string,
    readonly issuer: string,
    /** Signs ID tokens: the instance key, which core publishes at `/oauth/discovery/keys`. */
    private readonly keys: InstanceKeys,
    readonly settings: ProviderSettings,
  ) {
    this.cache = createCache<TokenResolution>({
      name: 'oauth-provider.tokens',
      bus,
      max: Math.max(1, settings.principalCacheSize),
      ttlMs: settings.principalCacheTtlMs,
    });
    // A user's change (block, admin flag, deletion) drops the tokens resolved for them, on every instance.
    this.directory.readCache.onInvalidate((tags) => {
      if (!tags) return this.cache.drop();
      const users = tags.filter((tag) => tag.startsWith('user:')).map((tag) => userTag(Number(tag.slice(5))));
      if (users.length) this.cache.drop(users);
    });
  }

  digest(value: string): string {
    return pepperedDigest(value, this.pepper);
  }

  now(): Date {
    return this.clock.now();
  }

  // --- clients --------------------------------------------------------------------------------------

  /** Client credentials from `Authorization: Basic` (not URL-decoded, as Doorkeeper), else the body. */
  credentialsOf(authorization: string | undefined, params: Record<string, unknown>): ClientCredentials {
    const basic = /^Basic\s+(.+)$/i.exec(authorization ?? '');
    if (basic) {
      const decoded = Buffer.from(basic[1].trim(), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon >= 0) return { clientId: decoded.slice(0, colon), clientSecret: decoded.slice(colon + 1) };
    }
    return { clientId: str(params.client_id), clientSecret: str(params.client_secret) };
  }

  /**
   * The authenticated client, undefined when the credentials do not authenticate one: a confidential
   * application needs its secret; a public one its id alone (a secret, if sent, must still match).
   */
  async authenticateClient(credentials: ClientCredentials): Promise<Application | undefined> {
    if (!credentials.clientId) return undefined;
    if (credentials.clientSecret) return this.applications.authenticateClient(credentials.clientId, credentials.clientSecret);
    const application = await this.applications.findByUid(credentials.clientId);
    return application && !application.confidential ? application : undefined;
  }

  // --- authorization requests -----------------------------------------------------------------------

  /**
   * Scope resolution (Doorkeeper's scope checker): blank means the default scope within the
   * application's; otherwise every scope must be one of the application's.
   */
  resolveScopes(application: Application, requested: unknown, glAuthType?: unknown): string[] {
    const allowed = new Set(application.scopes);
    if (glAuthType === 'login') {
      // "Sign in with GitLab": identity only.
      if (allowed.has('read_user') || allowed.has('api')) return ['read_user'];
    }
    const text = typeof requested === 'string' ? requested : undefined;
    if (requested !== undefined && text === undefined) throw new OauthError('invalid_scope');
    if (!text || !text.trim()) {
      if (allowed.has(DEFAULT_SCOPE)) return [DEFAULT_SCOPE];
      throw new OauthError('invalid_scope');
    }
    if (/[\n\r\t]/.test(text)) throw new OauthError('invalid_scope');
    const scopes = [...new Set(text.split(' ').filter(Boolean))];
    if (!scopes.length || !scopes.every((scope) => allowed.has(scope))) throw new OauthError('invalid_scope');
    return scopes;
  }

  /** Validates an authorization request in Doorkeeper's order; the first failure is thrown. */
  async validateAuthorization(params: Record<string, unknown>): Promise<AuthorizationRequest> {
    const clientId = str(params.client_id);
    if (!clientId) throw new OauthError('invalid_request', missingParameter('client_id'));
    const application = await this.applications.findByUid(clientId);
    if (!application) throw new OauthError('invalid_client');
    const redirectUri = str(params.redirect_uri);
    if (!redirectUri || !matchesRegistered(redirectUri, application.redirectUri)) throw new OauthError('invalid_redirect_uri');
    const responseType = str(params.response_type);
    if (!responseType) throw new OauthError('invalid_request', missingParameter('response_type'));
    if (responseType !== 'code') throw new OauthError('unsupported_response_type');
    const scopes = this.resolveScopes(application, params.scope, params.gl_auth_type);
    const codeChallenge = str(params.code_challenge) || undefined;
    const method = str(params.code_challenge_method) || undefined;
    if (codeChallenge && (!method || (method !== 'plain' && method !== 'S256'))) throw new OauthError('invalid_code_challenge_method');
    if (!codeChallenge && !application.confidential && this.settings.requirePkceForPublicClients) {
      throw new OauthError('invalid_request', missingParameter('code_challenge'));
    }
    return {
      application,
      redirectUri,
      scopes,
      state: str(params.state) || undefined,
      responseType,
      codeChallenge,
      codeChallengeMethod: codeChallenge ? method : undefined,
      nonce: str(params.nonce) || undefined,
    };
  }

  /** Whether the consent page is skipped: trusted applications, or a confidential one the user already authorized for these scopes. */
  async skipsConsent(request: AuthorizationRequest, user: User): Promise<boolean> {
    if (request.application.trusted) return true;
    return request.application.confidential && this.repository.hasMatchingToken(request.application.id, user.id, request.scopes);
  }

  /** Issues an authorization code (10 minutes, single use); returns the redirect target with `code` and `state`. */
  async issueCode(request: AuthorizationRequest, user: User, authTime: Date): Promise<{ code: string; location: string }> {
    const code = randomHex(32);
    const now = this.clock.now();
    // Expired codes and device grants are kept a day (a late reuse is still recognised), then go.
    await this.repository.pruneExpiredGrants(new Date(now.getTime() - GRANT_RETENTION_MS));
    await this.repository.insertGrant({
      digest: this.digest(code),
      applicationId: request.application.id,
      userId: user.id,
      redirectUri: request.redirectUri,
      scopes: request.scopes,
      codeChallenge: request.codeChallenge ?? null,
      codeChallengeMethod: request.codeChallengeMethod ?? null,
      nonce: request.nonce ?? null,
      authTime,
      createdAt: now,
      expiresAt: new Date(now.getTime() + this.settings.authorizationCodeExpiresIn * 1000),
    });
    const target = request.redirectUri === NATIVE_REDIRECT_URI ? `${this.issuer}/oauth/authorize/native` : request.redirectUri;
    return { code, location: withParams(target, { code, state: request.state }) };
  }

  /** Where a denied or failed authorization sends the browser back to. */
  errorRedirect(redirectUri: string, error: OauthError, state?: string): string {
    const target = redirectUri === NATIVE_REDIRECT_URI ? `${this.issuer}/oauth/authorize/native` : redirectUri;
    return withParams(target, { error: error.code, error_description: error.description, state });
  }

  // --- the token endpoint ---------------------------------------------------------------------------

  async token(params: Record<string, unknown>, authorization: string | undefined): Promise<TokenResponse> {
    const grantType = str(params.grant_type);
    if (!grantType) throw new OauthError('invalid_request', missingParameter('grant_type'));
    const credentials = this.credentialsOf(authorization, params);
    switch (grantType) {
      case 'authorization_code':
        return this.exchangeCode(params, credentials);
      case 'refresh_token':
        return this.refresh(params, credentials);
      case 'client_credentials':
        return this.clientCredentials(params, credentials);
      case 'urn:ietf:params:oauth:grant-type:device_code':
        return this.pollDevice(params, credentials);
      default:
        throw new OauthError('unsupported_grant_type');
    }
  }

  private async exchangeCode(params: Record<string, unknown>, credentials: ClientCredentials): Promise<TokenResponse> {
    const code = str(params.code);
    if (!code) throw new OauthError('invalid_request', missingParameter('code'));
    const grant = await this.repository.findGrant(this.digest(code));
    const verifier = str(params.code_verifier);
    if (grant?.codeChallenge && !verifier) throw new OauthError('invalid_request', missingParameter('code_verifier'));
    const redirectUri = str(params.redirect_uri);
    if (!redirectUri) throw new OauthError('invalid_request', missingParameter('redirect_uri'));
    const client = await this.authenticateClient(credentials);
    if (!client) throw new OauthError('invalid_client');
    const now = this.clock.now();
    if (!grant || grant.applicationId !== client.id || grant.expiresAt <= now) throw new OauthError('invalid_grant');
    if (grant.usedAt) {
      // RFC 6749 §4.1.2: a code presented twice may have leaked; what it issued is revoked.
      const revoked = await this.repository.revokeTokensWhere({ grant_id: grant.id }, now);
      await this.announceRevoked(revoked);
      throw new OauthError('invalid_grant');
    }
    if (!this.redirectMatches(redirectUri, grant)) throw new OauthError('invalid_grant');
    if (!this.verifierMatches(grant, verifier)) throw new OauthError('invalid_grant');
    const user = await this.directory.users.findById(grant.userId);
    if (!user || user.state === 'blocked') throw new OauthError('invalid_grant');
    const issued = await this.db.transaction(async (trx) => {
      if (!(await this.repository.useGrant(grant.id, now, trx))) return undefined;
      return this.createToken(trx, { application: client, userId: user.id, scopes: grant.scopes, grantId: grant.id, refresh: true });
    });
    if (!issued) throw new OauthError('invalid_grant');
    return this.respond(issued, client, user, grant);
  }

  private redirectMatches(redirectUri: string, grant: AccessGrant): boolean {
    return redirectUri === grant.redirectUri || matchesRegistered(redirectUri, grant.redirectUri);
  }

  private verifierMatches(grant: AccessGrant, verifier: string | undefined): boolean {
    if (!grant.codeChallenge) return !verifier;
    if (!verifier) return false;
    const computed = grant.codeChallengeMethod === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
    return constantTimeEqual(computed, grant.codeChallenge);
  }

  private async refresh(params: Record<string, unknown>, credentials: ClientCredentials): Promise<TokenResponse> {
    const presented = str(params.refresh_token);
    if (!presented) throw new OauthError('invalid_request', missingParameter('refresh_token'));
    // A wrong secret is a client error; no client at all cannot claim the token (invalid_grant).
    let client: Application | undefined;
    if (credentials.clientId) {
      client = await this.authenticateClient(credentials);
      if (!client && credentials.clientSecret) throw new OauthError('invalid_client');
    }
    const old = await this.repository.findTokenByRefreshDigest(this.digest(presented));
    if (!old || old.revokedAt || !client || old.applicationId !== client.id) throw new OauthError('invalid_grant');
    let scopes = old.scopes;
    const requested = str(params.scope);
    if (requested && requested.trim()) {
      const narrowed = [...new Set(requested.split(' ').filter(Boolean))];
      if (!narrowed.every((scope) => old.scopes.includes(scope))) throw new OauthError('invalid_scope');
      scopes = narrowed;
    }
    const user = old.userId === null ? undefined : await this.directory.users.findById(old.userId);
    if (old.userId !== null && (!user || user.state === 'blocked')) throw new OauthError('invalid_grant');
    const now = this.clock.now();
    // Rotation: the old pair is revoked in the same transaction; the conditional update lets one request win.
    const issued = await this.db.transaction(async (trx) => {
      if (!(await this.repository.revokeToken(old.id, now, trx))) return undefined;
      return this.createToken(trx, {
        application: client!,
        userId: old.userId,
        scopes,
        grantId: old.grantId,
        refresh: true,
        expiresIn: old.expiresIn,
      });
    });
    await this.announceRevoked([old.id]);
    if (!issued) throw new OauthError('invalid_grant');
    return this.respond(issued, client, user);
  }

  private async clientCredentials(params: Record<string, unknown>, credentials: ClientCredentials): Promise<TokenResponse> {
    const client = credentials.clientId && credentials.clientSecret ? await this.applications.authenticateClient(credentials.clientId, credentials.clientSecret) : undefined;
    if (!client) throw new OauthError('invalid_client');
    const requested = str(params.scope);
    const scopes = requested && requested.trim() ? this.resolveScopes(client, requested) : client.scopes;
    const issued = await this.createToken(this.db, { application: client, userId: null, scopes, grantId: null, refresh: false });
    return this.respond(issued, client, undefined);
  }

  private async createToken(
    trx: Knex,
    input: { application: Application; userId: number | null; scopes: readonly string[]; grantId: number | null; refresh: boolean; expiresIn?: number | null },
  ): Promise<{ token: OauthAccessToken; accessToken: string; refreshToken?: string }> {
    const accessToken = randomHex(32);
    const refreshToken = input.refresh ? randomHex(32) : undefined;
    const token = await this.repository.insertToken(
      {
        digest: this.digest(accessToken),
        refreshDigest: refreshToken ? this.digest(refreshToken) : null,
        applicationId: input.application.id,
        userId: input.userId,
        grantId: input.grantId,
        scopes: input.scopes,
        expiresIn: input.expiresIn === undefined ? this.settings.accessTokenExpiresIn : input.expiresIn,
        now: this.clock.now(),
      },
      trx,
    );
    return { token, accessToken, refreshToken };
  }

  private async respond(
    issued: { token: OauthAccessToken; accessToken: string; refreshToken?: string },
    application: Application,
    user: User | undefined,
    grant?: Pick<AccessGrant, 'nonce' | 'authTime'>,
  ): Promise<TokenResponse> {
    const { token } = issued;
    const body = { access_token: issued.accessToken, token_type: 'Bearer' } as TokenResponse;
    if (token.expiresIn !== null) body.expires_in = token.expiresIn;
    if (issued.refreshToken) body.refresh_token = issued.refreshToken;
    body.scope = token.scopes.join(' ');
    body.created_at = seconds(token.createdAt);
    if (user && token.scopes.includes('openid')) body.id_token = await this.idToken(user, application, grant);
    return body;
  }

  // --- ID tokens and claims -------------------------------------------------------------------------

  /** GitLab's `sub_legacy`: hex SHA-256 of `<id>-<instance secret>`. */
  subLegacy(user: User): string {
    return createHash('sha256').update(`${user.id}-${this.pepper}`).digest('hex');
  }

  /**
   * The full paths of the groups the user is a direct member of, and of every group they belong to
   * (direct ones and their descendants, where membership is inherited), sorted.
   */
  async groupPaths(userId: number): Promise<{ direct: string[]; all: string[]; byRole: Record<GroupRole, string[]> }> {
    const { projects } = this.directory;
    const directIds = await projects.members.namespaceIdsOf(userId);
    const allIds = new Set<number>();
    for (const id of directIds) for (const descendant of await projects.namespaces.selfAndDescendantIds(id)) allIds.add(descendant);
    const groupsOf = async (ids: Iterable<number>) => {
      const namespaces = await Promise.all([...ids].map((id) => projects.findNamespaceById(id)));
      return namespaces.filter((ns) => ns?.kind === 'group').map((ns) => ns!).sort((a, b) => (a.fullPath < b.fullPath ? -1 : 1));
    };
    const all = await groupsOf(allIds);
    const byRole: Record<GroupRole, string[]> = { owner: [], maintainer: [], developer: [] };
    for (const group of all) {
      const role = ROLE_BY_ACCESS_LEVEL.get(await projects.namespaceAccessLevel(userId, group));
      if (role) byRole[role].push(group.fullPath);
    }
    return { direct: (await groupsOf(directIds)).map((g) => g.fullPath), all: all.map((g) => g.fullPath), byRole };
  }

  private async idToken(user: User, application: Application, grant?: Pick<AccessGrant, 'nonce' | 'authTime'>): Promise<string> {
    const iat = seconds(this.clock.now());
    const claims: Record<string, unknown> = {
      iss: this.issuer,
      sub: String(user.id),
      aud: application.uid,
      exp: iat + this.settings.idTokenExpiresIn,
      iat,
      nonce: grant?.nonce ?? undefined,
      auth_time: grant?.authTime ? seconds(grant.authTime) : undefined,
      sub_legacy: this.subLegacy(user),
      name: user.name,
      nickname: user.username,
      preferred_username: user.username,
      email: user.email,
      email_verified: true,
      profile: `${this.issuer}/${user.username}`,
      groups_direct: (await this.groupPaths(user.id)).direct,
    };
    for (const key of Object.keys(claims)) if (claims[key] === undefined || claims[key] === null || claims[key] === '') delete claims[key];
    return this.keys.sign(claims);
  }

  /** `/oauth/userinfo`'s claims for a token's user (email only with the `email` scope). */
  async userInfo(user: User, scopes: readonly string[]): Promise<Record<string, unknown>> {
    const info: Record<string, unknown> = {
      sub: String(user.id),
      sub_legacy: this.subLegacy(user),
      name: user.name,
      nickname: user.username,
      preferred_username: user.username,
    };
    if (scopes.includes('email')) {
      info.email = user.email;
      info.email_verified = true;
    }
    info.profile = `${this.issuer}/${user.username}`;
    const groups = await this.groupPaths(user.id);
    info.groups = groups.all;
    for (const [role, paths] of Object.entries(groups.byRole)) if (paths.length) info[`https://gitlab.org/claims/groups/${role}`] = paths;
    return info;
  }

  // --- access tokens on the API ---------------------------------------------------------------------

  isExpired(token: OauthAccessToken): boolean {
    return token.expiresIn !== null && this.clock.now().getTime() >= token.createdAt.getTime() + token.expiresIn * 1000;
  }

  /** Seconds left, or null for a token that does not expire. */
  expiresInSeconds(token: OauthAccessToken): number | null {
    if (token.expiresIn === null) return null;
    return Math.max(0, Math.floor((token.createdAt.getTime() + token.expiresIn * 1000 - this.clock.now().getTime()) / 1000));
  }

  /**
   * Resolves a presented access token, from the cache when it holds it. Expiry is checked on every use;
   * revocation drops the entry on every instance.
   */
  resolve(presented: string): TokenResolution | Promise<TokenResolution> {
    const digest = this.digest(presented);
    const cached = this.cache.peek(digest);
    return cached ? this.check(cached) : this.load(digest);
  }

  /** A token not in the cache: read once for every request presenting it meanwhile (see `Cache.get`). */
  private load(digest: string): Promise<TokenResolution> {
    return this.cache.get(digest, () => this.read(digest), resolutionTags).then((resolution) => (resolution ? this.check(resolution) : UNKNOWN_TOKEN));
  }

  private async read(digest: string): Promise<TokenResolution | undefined> {
    const token = await this.repository.findTokenByDigest(digest);
    if (!token) return undefined;
    const application = await this.applications.findById(token.applicationId);
    if (!application) return undefined;
    const user = token.userId === null ? undefined : await this.directory.users.findById(token.userId);
    if (token.userId !== null && !user) return undefined;
    return token.revokedAt ? { problem: 'revoked', token } : { token, application, user };
  }

  private check(resolution: TokenResolution): TokenResolution {
    if (resolution.problem === 'unknown' || resolution.problem === 'revoked') return resolution;
    if (resolution.problem === undefined && this.isExpired(resolution.token)) return { problem: 'expired', token: resolution.token };
    return resolution;
  }

  /** After revocations committed: every instance refuses these tokens from the next request on. */
  async announceRevoked(ids: readonly number[]): Promise<void> {
    if (ids.length) await this.cache.invalidate(ids.map(tokenTag));
  }

  /** Revokes every token of an application (its secret was renewed, or it was deleted) on every instance. */
  async revokeApplication(applicationId: number, deleted: boolean): Promise<void> {
    if (!deleted) await this.repository.revokeTokensWhere({ application_id: applicationId }, this.clock.now());
    await this.cache.invalidate([applicationTag(applicationId)]);
  }

  /** The applications the user authorized (holding live tokens), for the page where they revoke them. */
  async authorizedApplications(userId: number): Promise<Array<{ application: Application; since: Date }>> {
    const found = await this.repository.authorizedApplicationIds(userId);
    const loaded = await Promise.all(found.map(async ({ applicationId, since }) => ({ application: await this.applications.findById(applicationId), since })));
    return loaded.filter((entry): entry is { application: Application; since: Date } => entry.application !== undefined);
  }

  /** Revokes a user's grant to an application: every token it holds, refused at once on every instance. */
  async revokeAuthorization(applicationId: number, userId: number): Promise<number> {
    const ids = await this.repository.revokeTokensWhere({ application_id: applicationId, user_id: userId }, this.clock.now());
    await this.announceRevoked(ids);
    return ids.length;
  }

  /** Revokes every token of a user (blocked) on every instance. */
  async revokeUser(userId: number): Promise<void> {
    await this.repository.revokeTokensWhere({ user_id: userId }, this.clock.now());
    await this.cache.invalidate([userTag(userId)]);
  }

  /**
   * `POST /oauth/revoke` (RFC 7009 as Doorkeeper does it): the client must authenticate (a public one by
   * its id); an unknown token is answered as revoked; another confidential application's token is refused.
   */
  async revoke(params: Record<string, unknown>, authorization: string | undefined): Promise<void> {
    const credentials = this.credentialsOf(authorization, params);
    const client = await this.authenticateClient(credentials);
    if (!client) throw new RevokeRefused();
    const presented = str(params.token);
    if (!presented) return;
    const digest = this.digest(presented);
    const token =
      str(params.token_type_hint) === 'refresh_token'
        ? await this.repository.findTokenByRefreshDigest(digest)
        : ((await this.repository.findTokenByDigest(digest)) ?? (await this.repository.findTokenByRefreshDigest(digest)));
    if (!token) return;
    if (token.applicationId !== client.id) {
      const owner = await this.applications.findById(token.applicationId);
      if (owner?.confidential) throw new RevokeRefused();
    }
    if (await this.repository.revokeToken(token.id, this.clock.now())) await this.announceRevoked([token.id]);
  }

  // --- device authorization grant (RFC 8628) --------------------------------------------------------

  async authorizeDevice(params: Record<string, unknown>, authorization: string | undefined) {
    const credentials = this.credentialsOf(authorization, params);
    const client = await this.authenticateClient(credentials);
    if (!client) throw new OauthError('invalid_client');
    const scope = str(params.scope);
    if (!scope || !scope.trim()) throw new OauthError('invalid_scope');
    const scopes = this.resolveScopes(client, scope);
    if (!client.deviceCodeEnabled) throw new OauthError('access_denied');
    const deviceCode = randomHex(32);
    const userCode = newUserCode();
    const now = this.clock.now();
    await this.repository.insertDeviceGrant({
      digest: this.digest(deviceCode),
      userCodeDigest: this.digest(userCode),
      applicationId: client.id,
      scopes,
      now,
      expiresAt: new Date(now.getTime() + this.settings.deviceCodeExpiresIn * 1000),
    });
    const verificationUri = `${this.issuer}/oauth/device`;
    return {
      device_code: deviceCode,
      user_code: userCode,
      verification_uri: verificationUri,
      verification_uri_complete: `${verificationUri}?user_code=${userCode}`,
      expires_in: this.settings.deviceCodeExpiresIn,
      interval: this.settings.devicePollingInterval,
    };
  }

  /** The device grant a user typed the code of, with its application; why not otherwise. */
  async deviceGrantFor(userCode: unknown): Promise<{ grant: DeviceGrant; application: Application } | 'invalid' | 'expired'> {
    const code = typeof userCode === 'string' ? userCode.trim().toUpperCase() : '';
    if (!code) return 'invalid';
    const grant = await this.repository.findDeviceGrantByUserCode(this.digest(code));
    if (!grant || grant.denied || grant.userId !== null) return 'invalid';
    if (grant.expiresAt <= this.clock.now()) return 'expired';
    const application = await this.applications.findById(grant.applicationId);
    return application ? { grant, application } : 'invalid';
  }

  decideDevice(grant: DeviceGrant, decision: { userId: number } | 'denied'): Promise<boolean> {
    return this.repository.decideDeviceGrant(grant.id, decision);
  }

  private async pollDevice(params: Record<string, unknown>, credentials: ClientCredentials): Promise<TokenResponse> {
    const deviceCode = str(params.device_code);
    if (!deviceCode) throw new OauthError('invalid_request', missingParameter('device_code'));
    const client = await this.authenticateClient(credentials);
    if (!client) throw new OauthError('invalid_client');
    const grant = await this.repository.findDeviceGrant(this.digest(deviceCode));
    if (!grant || grant.applicationId !== client.id) throw new OauthError('invalid_grant');
    const now = this.clock.now();
    if (grant.expiresAt <= now) {
      await this.repository.deleteDeviceGrant(grant.id);
      throw new OauthError('expired_token', DESCRIPTIONS.server_error);
    }
    if (grant.denied) {
      await this.repository.deleteDeviceGrant(grant.id);
      throw new OauthError('access_denied');
    }
    if (grant.userId === null) {
      const tooSoon = grant.lastPolledAt && now.getTime() - grant.lastPolledAt.getTime() < this.settings.devicePollingInterval * 1000;
      await this.repository.recordPoll(grant.id, now);
      throw new OauthError(tooSoon ? 'slow_down' : 'authorization_pending', DESCRIPTIONS.server_error);
    }
    const user = await this.directory.users.findById(grant.userId);
    if (!user || user.state === 'blocked') throw new OauthError('invalid_grant');
    const issued = await this.db.transaction(async (trx) => {
      if (!(await this.repository.deleteDeviceGrant(grant.id, trx))) return undefined;
      return this.createToken(trx, { application: client, userId: user.id, scopes: grant.scopes, grantId: null, refresh: true });
    });
    if (!issued) throw new OauthError('invalid_grant');
    return this.respond(issued, client, user);
  }
}

/** `/oauth/revoke` without a client allowed to revoke the token: 403 `unauthorized_client`. */
export class RevokeRefused extends Error {}

function withParams(uri: string, params: Record<string, string | undefined>): string {
  const url = new URL(uri);
  for (const [key, value] of Object.entries(params)) if (value) url.searchParams.append(key, value);
  return url.toString();
}

/** 8 characters of `[0-9A-Z]`: a random base-36 number, zero-padded (the device gem's format). */
function newUserCode(): string {
  const max = 36 ** USER_CODE_LENGTH;
  // 48 random bits, reduced: the bias over 36^8 (~2^41) is negligible.
  const value = Number.parseInt(randomHex(6), 16) % max;
  return value.toString(36).toUpperCase().padStart(USER_CODE_LENGTH, '0');
}
