import type { InternalApiServiceOptions } from './service-options.js';
import { resolveActor, type Actor } from './actor.js';
import type { Project, SshKey, User } from './types.js';

export const COULD_NOT_FIND_USER = 'Could not find the given user';
export const COULD_NOT_FIND_KEY = 'Could not find the given key';
export const NO_USER_FOR_KEY = 'Could not find a user for the given key';
export const DEPLOY_KEY_RECOVERY_CODES = 'Deploy keys cannot be used to retrieve recovery codes';
export const DEPLOY_KEY_TOKENS = 'Deploy keys cannot be used to create personal access tokens';
export const TWO_FACTOR_DISABLED = 'Two-factor authentication is not enabled for this user';
export const FEATURE_NOT_AVAILABLE = 'Feature is not available';
export const NO_TOKEN_NAME = 'No token name specified';
export const NO_TOKEN_SCOPES = 'No token scopes specified';
export const NOT_PERMITTED_TO_CREATE = 'Not permitted to create';
export const invalidScope = (scope: string, valid: readonly string[]) =>
  `Invalid scope: '${scope}'. Valid scopes are: ${rubyInspect(valid)}`;
export const invalidExpiry = (value: string) => `Invalid token expiry date: '${value}'`;
export const failedToCreate = (message: string) => `Failed to create token: ${message}`;

/** GitLab's `Gitlab::LfsToken` lifetime (seconds), also answered as `expires_in`. */
export const LFS_TOKEN_TTL_SECONDS = 7200;
const LFS_ALGORITHM = 'HS256';

/**
 * The scopes a token created over SSH may carry (GitLab's `API_SCOPES + REPOSITORY_SCOPES +
 * registry_scopes + ai_features`), kept to those the tokens plugin knows.
 */
const SSH_TOKEN_SCOPES = [
  'api', 'read_api', 'read_user', 'create_runner', 'manage_runner', 'k8s_proxy', 'self_rotate', 'mcp', 'mcp_orbit', 'granular',
  'read_repository', 'write_repository',
  'read_registry', 'write_registry',
  'ai_features',
] as const;

/** Ruby's `Array#inspect` of strings: `["a", "b"]`. */
const rubyInspect = (values: readonly string[]) => `[${values.map((value) => JSON.stringify(value)).join(', ')}]`;

/** `{"success":false,"message":…}`: the internal account endpoints answer failures with 200 and this body. */
export type Failure = { success: false; message: string };
const failure = (message: string): Failure => ({ success: false, message });

/** The claims of an LFS token gatehouse issued. */
export interface LfsTokenClaims {
  /** The username, or `lfs+deploy-key-<id>` for a deploy key. */
  actor: string;
  /** The repository container: `project-<id>` (or `wiki-<id>` for a project's wiki). */
  container: string;
  iat: number;
  exp: number;
}

/** A repository LFS objects can belong to: a project's or its wiki's. */
interface LfsContainer {
  project: Project;
  wiki: boolean;
}

/** Result of `/internal/authorized_keys`: the key and who owns it, or why not. */
export type AuthorizedKeyLookup = { key: SshKey; owner?: User } | 'not_found' | 'blocked';

/** Result of `/internal/lfs_authenticate`: the payload, or which of GitLab's two 404s. */
export type LfsAuthentication =
  | { username: string; lfs_token: string; repository_http_path: string; expires_in: number }
  | 'container_not_found'
  | 'actor_not_found';

const text = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;

const isBlank = (value: string | undefined) => value === undefined || value.trim() === '';

/** Ruby's `Array(params[:scopes])`: an array as is, one value as a one-element array, nothing as empty. */
function scopesParam(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]).map((scope) => (typeof scope === 'string' ? scope : String(scope)));
}

/**
 * `expires_at` as Ruby's `Date.parse` reads the forms clients send: `YYYY-MM-DD`, a datetime starting
 * with one, or `YYYYMMDD`. Blank means "not given" (`presence`); anything else is unparsable.
 */
function parseExpiry(value: unknown): { day?: string } | 'invalid' {
  if (value === undefined || value === null) return {};
  const given = text(value);
  if (given === undefined) return 'invalid';
  if (given.trim() === '') return {};
  const match = /^\s*(\d{4})-?(\d{2})-?(\d{2})(?:$|[T\s])/.exec(given);
  if (!match) return 'invalid';
  const day = `${match[1]}-${match[2]}-${match[3]}`;
  const parsed = new Date(`${day}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === day ? { day } : 'invalid';
}

/** Keys, users, recovery codes, tokens and LFS over SSH: the non-git-access internal endpoints. */
export class Accounts {
  private lfsKey?: Uint8Array;
  private joseModule?: Promise<typeof import('jose')>;
  private sshScopes?: string[];

  constructor(private readonly internal: InternalApiServiceOptions) {}

  private get directory() {
    return this.internal.directory;
  }

  private nowSeconds() {
    return Math.floor(this.internal.clock.now().getTime() / 1000);
  }

  /** GitLab's `Gitlab.config.gitlab.host`: the external URL's host name. */
  private get host() {
    return new URL(this.internal.app.externalUrl).hostname;
  }

  /** `/internal/check`'s `redis`: true without Redis, else whether it answers PING within a second. */
  async redisHealthy(timeoutMs = 1000): Promise<boolean> {
    const redis = this.internal.redis;
    if (!redis) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([redis.ping().then((reply) => reply === 'PONG', () => false), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The key sshd's AuthorizedKeysCommand asks about, by its base64 blob: only keys usable for
   * authentication and not expired; a blocked owner is refused.
   */
  async authorizedKey(blob: unknown): Promise<AuthorizedKeyLookup> {
    if (typeof blob !== 'string' || blob === '') return 'not_found';
    const key = await this.directory.keys.findByBlob(blob);
    if (!key || !(key.usageType === 'auth' || key.usageType === 'auth_and_signing') || this.directory.keys.isExpired(key)) return 'not_found';
    if (key.type === 'deploy_key' || key.userId === null) return { key };
    const owner = await this.directory.users.findById(key.userId);
    if (!owner) return 'not_found';
    if (owner.state === 'blocked') return 'blocked';
    return { key, owner };
  }

  /**
   * GitLab's `Key#publishable_key`: the key's type and blob with the comment replaced by
   * `<owner name> (<host>)`, so a user's email in the comment never leaks. Deploy keys have no owner.
   */
  publishableKey(key: SshKey, owner?: User): string {
    const [type, blob] = key.key.split(/\s+/);
    return owner ? `${type} ${blob} ${owner.name} (${this.host})` : `${type} ${blob} (${this.host})`;
  }

  /** `/internal/discover`: the user behind the actor params, or undefined (deploy key, nothing matched). */
  async discover(params: Record<string, unknown>): Promise<User | undefined> {
    return (await resolveActor(this.directory, params)).user;
  }

  /** Only `key_id` and `user_id` identify the actor of the account endpoints. */
  private async keyOrUser(params: Record<string, unknown>): Promise<Actor> {
    const actor = await resolveActor(this.directory, { key_id: params.key_id, user_id: params.user_id });
    // GitLab's `actor.update_last_used_at!`: using a key through these endpoints counts as use.
    if (actor.key) await this.directory.keys.touch(actor.key);
    return actor;
  }

  /**
   * GitLab's `validate_actor`: these endpoints need an SSH key (a `user_id` alone is "no key"). Deploy
   * keys have no user in gatehouse, so they pass here and are refused by each endpoint's own rule.
   */
  private validateActor(actor: Actor): string | undefined {
    if (!actor.key) return COULD_NOT_FIND_KEY;
    if (!actor.user && actor.key.type !== 'deploy_key') return NO_USER_FOR_KEY;
    return undefined;
  }

  private userNotFound(params: Record<string, unknown>, actor: Actor) {
    return params.user_id !== undefined && params.user_id !== null && !actor.user && actor.key?.type !== 'deploy_key';
  }

  /** `/internal/two_factor_recovery_codes`: ten new codes replace the old ones, or why not. */
  async regenerateRecoveryCodes(params: Record<string, unknown>): Promise<Failure | { success: true; recovery_codes: string[] }> {
    const actor = await this.keyOrUser(params);
    if (this.userNotFound(params, actor)) return failure(COULD_NOT_FIND_USER);
    const invalid = this.validateActor(actor);
    if (invalid) return failure(invalid);
    if (actor.key?.type === 'deploy_key') return failure(DEPLOY_KEY_RECOVERY_CODES);
    const user = actor.user!;
    if (!user.twoFactorEnabled) return failure(TWO_FACTOR_DISABLED);
    return { success: true, recovery_codes: await this.directory.users.regenerateRecoveryCodes(user) };
  }

  /** The scopes `/internal/personal_access_token` accepts, sorted as GitLab lists them. */
  sshTokenScopes(): string[] {
    return (this.sshScopes ??= SSH_TOKEN_SCOPES.filter((scope) => this.tokensKnow(scope)).sort());
  }

  /** Whether the tokens plugin knows a scope (its own list, not a copy). */
  private tokensKnow(scope: string): boolean {
    return this.internal.tokens.tokens.availableScopes.includes(scope);
  }

  /** `/internal/personal_access_token`: a token for the key's user, checked in GitLab's order. */
  async createPersonalAccessToken(
    params: Record<string, unknown>,
  ): Promise<Failure | { success: true; token: string; scopes: string[]; expires_at: string | null }> {
    const actor = await this.keyOrUser(params);
    if (actor.key?.type === 'deploy_key') return failure(DEPLOY_KEY_TOKENS);
    if (this.userNotFound(params, actor)) return failure(COULD_NOT_FIND_USER);
    const invalid = this.validateActor(actor);
    if (invalid) return failure(invalid);
    const user = actor.user!;

    const name = text(params.name);
    if (isBlank(name)) return failure(NO_TOKEN_NAME);
    const scopes = scopesParam(params.scopes);
    if (!scopes.length) return failure(NO_TOKEN_SCOPES);
    const valid = this.sshTokenScopes();
    const unknown = scopes.find((scope) => !valid.includes(scope));
    if (unknown !== undefined) return failure(invalidScope(unknown, valid));
    const expiry = parseExpiry(params.expires_at);
    if (expiry === 'invalid') return failure(invalidExpiry(text(params.expires_at) ?? JSON.stringify(params.expires_at)));

    // PersonalAccessTokens::CreateService refuses a user who may not create tokens (blocked).
    if (user.state === 'blocked') return failure(failedToCreate(NOT_PERMITTED_TO_CREATE));
    const tokens = this.internal.tokens.tokens;
    try {
      const { token, plaintext } = await tokens.create(user, { name: name!, scopes, expiresAt: expiry.day });
      return { success: true, token: plaintext, scopes: [...token.scopes], expires_at: token.expiresAt };
    } catch (error) {
      if (tokens.isModelError(error)) return failure(failedToCreate(error.message));
      throw error;
    }
  }

  /** `/internal/two_factor_config`: whether the key's user must pass a second factor. */
  async twoFactorConfig(params: Record<string, unknown>): Promise<Failure | { success: true; two_factor_required: boolean }> {
    const actor = await this.keyOrUser(params);
    const invalid = this.validateActor(actor);
    if (invalid) return failure(invalid);
    if (actor.key?.type === 'deploy_key') return { success: true, two_factor_required: false };
    return { success: true, two_factor_required: actor.user!.twoFactorEnabled };
  }

  /** The OTP checks over SSH are an EE feature: CE's answer. */
  otpCheck(): Failure {
    return failure(FEATURE_NOT_AVAILABLE);
  }

  /** `project-<id>` / `wiki-<id>` (`gl_repository`, which wins) or a path as typed (`group/proj.wiki.git`). */
  private async lfsContainer(params: Record<string, unknown>): Promise<LfsContainer | undefined> {
    const projects = this.directory.projects;
    const glRepository = text(params.gl_repository);
    if (glRepository !== undefined && glRepository !== '') {
      const match = /^(project|wiki)-(\d+)$/.exec(glRepository);
      const project = match ? await projects.findProjectById(Number(match[2])) : undefined;
      return project && { project, wiki: match![1] === 'wiki' };
    }
    const path = text(params.project)?.trim().replace(/^\/+/, '').replace(/\.git$/i, '');
    if (!path) return undefined;
    const wiki = /\.wiki$/i.test(path);
    const project = await projects.findProjectByPath(wiki ? path.replace(/\.wiki$/i, '') : path);
    return project && { project, wiki };
  }

  /**
   * `/internal/lfs_authenticate`: a signed, expiring LFS token for the key (or user) and the
   * repository's HTTP URL. The container is checked first, then the actor, as GitLab does.
   */
  async lfsAuthenticate(params: Record<string, unknown>): Promise<LfsAuthentication> {
    const container = await this.lfsContainer(params);
    if (!container) return 'container_not_found';
    const actor = await resolveActor(this.directory, { key_id: params.key_id, user_id: params.user_id });
    const name = actor.key?.type === 'deploy_key' ? `lfs+deploy-key-${actor.key.id}` : actor.user?.username;
    if (name === undefined) return 'actor_not_found';
    if (actor.key) await this.directory.keys.touch(actor.key);
    const { project, wiki } = container;
    return {
      username: name,
      lfs_token: await this.signLfsToken(name, `${wiki ? 'wiki' : 'project'}-${project.id}`),
      repository_http_path: `${this.internal.app.externalUrl}/${project.fullPath}${wiki ? '.wiki' : ''}.git`,
      expires_in: LFS_TOKEN_TTL_SECONDS,
    };
  }

  private key(): Uint8Array {
    return (this.lfsKey ??= new TextEncoder().encode(this.internal.lfsSecret.trim()));
  }

  /** jose, loaded on first LFS use: most gateways never sign one, and it weighs on every process. */
  private jose() {
    return (this.joseModule ??= import('jose'));
  }

  private async signLfsToken(actor: string, container: string): Promise<string> {
    const iat = this.nowSeconds();
    const { SignJWT } = await this.jose();
    return new SignJWT({ actor, container })
      .setProtectedHeader({ alg: LFS_ALGORITHM, typ: 'JWT' })
      .setIssuedAt(iat)
      .setExpirationTime(iat + LFS_TOKEN_TTL_SECONDS)
      .sign(this.key());
  }

  /** The claims of an LFS token this gatehouse issued and that has not expired; undefined otherwise. */
  async verifyLfsToken(token: string): Promise<LfsTokenClaims | undefined> {
    try {
      const { jwtVerify } = await this.jose();
      const { payload } = await jwtVerify(token, this.key(), {
        algorithms: [LFS_ALGORITHM],
        currentDate: this.internal.clock.now(),
        requiredClaims: ['iat', 'exp'],
      });
      const { actor, container, iat, exp } = payload;
      if (typeof actor !== 'string' || typeof container !== 'string' || typeof iat !== 'number' || typeof exp !== 'number') return undefined;
      return { actor, container, iat, exp };
    } catch {
      return undefined;
    }
  }
}
