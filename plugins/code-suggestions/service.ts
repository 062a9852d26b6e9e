import { createHash } from 'node:crypto';
import { UnauthorizedError, type Clock, type FlagResolver, type InstanceKeys, type PluginServices, type PrincipalUser } from 'gatehouse';
import { TokenMinter, UpstreamCredentialCache, type MintedToken, type UpstreamCredential } from './ai-tokens.js';
import type { CodeSuggestionsConfig } from './config.js';

/** Whether completion requests' `context` and `user_instruction` reach the AI gateway. */
export const CONTEXT_FLAG = 'code_suggestions_context';
/** Flags whose state the AI gateway is told about (`x-gitlab-enabled-feature-flags`). */
export const REPORTED_FLAGS = [CONTEXT_FLAG] as const;

/** The upstream token is renewed this long before it expires, so none near its end is ever sent. */
const REFRESH_MARGIN_S = 300;

type Directory = Pick<PluginServices['directory'], 'projects' | 'users'>;
/** A directory project, as the directory's lookups return it. */
export type Project = NonNullable<Awaited<ReturnType<Directory['projects']['findProjectById']>>>;
/** A directory namespace (group or personal), as the directory's lookups return it. */
export type Namespace = NonNullable<Awaited<ReturnType<Directory['projects']['findNamespaceById']>>>;

export interface CodeSuggestionsServiceOptions {
  config: CodeSuggestionsConfig;
  keys: InstanceKeys;
  instanceId: string;
  externalUrl: string;
  version: string;
  clock: Clock;
  flags: FlagResolver;
  directory: Directory;
}

/**
 * Who may use Code Suggestions, the tokens gatehouse mints for the AI gateway, and the identity
 * headers GitLab sends with them (reference §5.3, §5.5).
 */
export class CodeSuggestionsService {
  readonly config: CodeSuggestionsConfig;
  readonly instanceId: string;
  readonly externalUrl: string;
  readonly hostName: string;
  readonly version: string;
  readonly flags: FlagResolver;
  private readonly minter: TokenMinter;
  private readonly credentials: UpstreamCredentialCache;
  private readonly directory: Directory;

  constructor(options: CodeSuggestionsServiceOptions) {
    this.config = options.config;
    this.instanceId = options.instanceId;
    this.externalUrl = options.externalUrl;
    this.hostName = new URL(options.externalUrl).hostname;
    this.version = options.version;
    this.flags = options.flags;
    this.directory = options.directory;
    this.minter = new TokenMinter({ keys: options.keys, issuer: options.externalUrl, realm: options.config.realm, clock: options.clock });
    this.credentials = new UpstreamCredentialCache({
      clock: options.clock,
      max: Math.max(1, options.config.tokenCacheSize),
      refreshMarginS: REFRESH_MARGIN_S,
      build: (userId) => this.buildCredential(userId),
    });
  }

  /**
   * The namespaces through which the user may use Code Suggestions (personal namespace, member
   * groups); 401 `{"message":"401 Unauthorized"}` when there are none, as GitLab answers a user
   * without the `access_code_suggestions` ability.
   */
  async requireAccess(user: PrincipalUser): Promise<readonly number[]> {
    const ids = await this.directory.projects.codeSuggestionsNamespaceIds(user.id);
    if (ids.length === 0) throw new UnauthorizedError();
    return ids;
  }

  /** Whether the user may use Code Suggestions (GraphQL's `duoCodeSuggestionsAvailable`). */
  async available(userId: number): Promise<boolean> {
    return (await this.directory.projects.codeSuggestionsNamespaceIds(userId)).length > 0;
  }

  /**
   * A project by full path that the user may see; undefined when there is none or the user may not
   * see it, which look the same from outside.
   */
  async visibleProject(user: PrincipalUser, fullPath: string): Promise<Project | undefined> {
    if (fullPath === '') return undefined;
    return this.ifVisible(user, await this.directory.projects.findProjectByPath(fullPath));
  }

  /** A project by id that the user may see; undefined when there is none or the user may not see it. */
  async visibleProjectById(user: PrincipalUser, id: number): Promise<Project | undefined> {
    return this.ifVisible(user, await this.directory.projects.findProjectById(id));
  }

  /**
   * Whether Code Suggestions may be used in a project: its namespace and every ancestor group have
   * them on (`POST /code_suggestions/enabled`; GraphQL's `duoFeaturesEnabled`).
   */
  async enabledInProject(project: Project): Promise<boolean> {
    const lineage = await this.directory.projects.projectLineage(project);
    return lineage.every((namespace) => namespace.codeSuggestions);
  }

  /**
   * GitLab's `duoDefaultNamespace` for a user who never chose one (gatehouse has no such preference):
   * its fallback, the only candidate, where a self-managed GitLab's candidates are the user's
   * top-level groups. Here they are the top-level groups above the groups through which the user may
   * use Code Suggestions; undefined unless there is exactly one.
   */
  async duoDefaultNamespace(userId: number): Promise<Namespace | undefined> {
    const ids = await this.directory.projects.codeSuggestionsNamespaceIds(userId);
    const namespaces = await Promise.all(ids.map((id) => this.directory.projects.findNamespaceById(id)));
    const roots = new Map<number, Namespace>();
    for (const namespace of namespaces) {
      if (namespace?.kind !== 'group') continue;
      const [root] = await this.directory.projects.lineageOf(namespace);
      if (root) roots.set(root.id, root);
    }
    return roots.size === 1 ? [...roots.values()][0] : undefined;
  }

  /** A namespace's name with its ancestors', `Parent / Child`, as GitLab's `full_name`. */
  async namespaceFullName(namespace: Namespace): Promise<string> {
    return (await this.directory.projects.lineageOf(namespace)).map((ancestor) => ancestor.name).join(' / ');
  }

  private async ifVisible(user: PrincipalUser, project: Project | undefined): Promise<Project | undefined> {
    return project && (await this.directory.projects.canRead(user, project)) ? project : undefined;
  }

  /**
   * GitLab's global user id: an id of the user that is stable for this instance and reveals neither
   * the local id nor the instance to whoever correlates tokens across instances.
   */
  globalUserId(userId: number): string {
    return createHash('sha256').update(`${this.instanceId}:${userId}`).digest('hex');
  }

  /** A fresh token for the user (the tokens endpoint and direct access hand it to the client). */
  mintFor(userId: number): Promise<MintedToken> {
    return this.minter.mint(this.globalUserId(userId));
  }

  /** The proxy's token and headers for the user, reused until shortly before the token expires. */
  upstreamCredential(userId: number): Promise<UpstreamCredential> {
    return this.credentials.get(userId);
  }

  /** The flags enabled for this user among those the AI gateway is told about, comma-separated. */
  enabledFlags(userId: number): string {
    const context = { userId: String(userId) };
    return REPORTED_FLAGS.filter((name) => this.flags.isEnabled(name, context)).join(',');
  }

  /**
   * The identity headers of a user's requests to the AI gateway, GitLab's names and spelling
   * (reference §5.5), without the ones that may change from one request to the next (enabled flags,
   * unit primitive, namespace ids): callers add those.
   */
  identityHeaders(userId: number): Record<string, string> {
    return {
      'x-gitlab-global-user-id': this.globalUserId(userId),
      'x-gitlab-user-id': String(userId),
      'x-gitlab-instance-id': this.instanceId,
      'x-gitlab-host-name': this.hostName,
      'x-gitlab-realm': this.config.realm,
      'x-gitlab-deployment-type': this.config.realm,
      'x-gitlab-version': this.version,
      'X-Gitlab-Authentication-Type': 'oidc',
      'x-gitlab-subject-type': 'human',
      'x-gitlab-feature-enablement-type': this.config.featureEnablementType,
      'x-gitlab-enabled-instance-verbose-ai-logs': 'false',
      'X-Gitlab-Model-Prompt-Cache-Enabled': 'true',
      'X-Gitlab-Is-Team-Member': 'false',
    };
  }

  private async buildCredential(userId: number): Promise<UpstreamCredential> {
    const token = await this.mintFor(userId);
    return {
      token,
      headers: Object.freeze({ ...this.identityHeaders(userId), authorization: `Bearer ${token.token}` }),
    };
  }
}
