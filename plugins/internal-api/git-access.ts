import { ApiError, BadRequestError, ModelValidationError } from 'gatehouse';
import type { PushHooks } from './push-hooks.js';
import type { InternalApiServiceOptions } from './service-options.js';
import { resolveActor, type Actor } from './actor.js';
import type { Project, SshKey, User } from './types.js';

// GitLab's messages (lib/gitlab/git_access.rb, lib/gitlab/auth/user_access_denied_reason.rb), verbatim:
// GitLab Shell and Gitaly print them to the person running git.
export const KEY_EXPIRED = 'Your SSH key has expired.';
export const ACCOUNT_BLOCKED = 'Your account has been blocked.';
const ACCOUNT_DEACTIVATED =
  'Your account has been deactivated by your administrator. Please log back in from a web browser to reactivate your account at';
export const COMMAND_NOT_ALLOWED = "The command you're trying to execute is not allowed.";
export const PROJECT_NOT_FOUND = "The project you were looking for could not be found or you don't have permission to view it.";
export const DOWNLOAD_DENIED = 'You are not allowed to download code from this project.';
export const PUSH_DENIED = 'You are not allowed to push code to this project.';
export const UPLOAD_DENIED = 'You are not allowed to upload code for this project.';
export const ARCHIVED = "You can't push code to an archived project.";
export const DEPLOY_KEY_READ_ONLY = 'This deploy key does not have write access to this project.';
// GitAccessWiki's own texts for a wiki repository (lib/gitlab/git_access_wiki.rb).
export const WIKI_NOT_FOUND = 'The wiki you were looking for could not be found.';
export const WIKI_DOWNLOAD_DENIED = 'You are not allowed to download files from this wiki.';
export const WIKI_WRITE_DENIED = "You are not allowed to write to this project's wiki.";
export const KEY_EXPIRES_SOON = 'INFO: Your SSH key expires soon. Please generate a new key.';
// GitAccessSnippet's and GitAccessDesign's texts (lib/gitlab/git_access_snippet.rb, git_access_design.rb).
export const SNIPPET_NOT_FOUND = 'The snippet you were looking for could not be found.';
export const DESIGNS_WEB_ONLY = 'Designs are only accessible using the web interface';
export const DESIGNS_DENIED = 'You are not allowed to manage designs of this project';
const MALFORMED_CLIENT_CONTEXT = 'malformed gitaly_client_context_bin';
const CLIENT_CONTEXT_NOT_OBJECT = 'Decoded gitaly_client_context_bin is not a valid JSON object';

export const protocolNotAllowed = (protocol: string) => `Git access over ${protocol.toUpperCase()} is not allowed`;

const DOWNLOAD_ACTIONS = new Set(['git-upload-pack', 'git-upload-archive']);
const PUSH_ACTIONS = new Set(['git-receive-pack']);

// Gitlab::Access levels: reporters may download a private project's code, developers may push.
const REPORTER = 20;
const DEVELOPER = 30;
/** GitLab's `Key#expires_soon?`: the console warning starts a week before expiry. */
const EXPIRES_SOON_MS = 7 * 24 * 60 * 60 * 1000;
const MIB = 1024 * 1024;
/** Always handed to Gitaly: partial clone and fetching any reachable object by SHA. */
const BASE_GIT_CONFIG = ['uploadpack.allowFilter=true', 'uploadpack.allowAnySHA1InWant=true'];
const SSH_FLAG = 'internal_api_ssh_git_access';
/** GitLab's `Gitlab::GitAccess::ANY`: what GitLab Shell sends as `changes` before the push data is known. */
const ANY_CHANGES = '_any';
/** Creating projects in a group needs maintainer (GitLab's default project_creation_level). */
const MAINTAINER = 40;

/**
 * A refusal as `/internal/allowed` answers it: `{"status":false,"message":…}`. Denials are 401, not
 * 403, on purpose (GitLab Shell only prints the message of a 401); unknown repositories are 404.
 */
export class GitAccessError extends ApiError {
  constructor(status: 401 | 404 | 422, message: string) {
    super(status, { status: false, message });
  }
}

const deny = (message: string) => new GitAccessError(401, message);
const notFound = (message: string) => new GitAccessError(404, message);

/** A repository of a project: its code, its wiki (`<path>.wiki.git`, `wiki-<id>`) or its designs (`<path>.design.git`, `design-<id>`). */
export interface GitRepository {
  project: Project;
  kind: 'project' | 'wiki' | 'design';
}

/** GitLab's snippet repositories: `snippet-<id>`, `snippets/<id>`, `<project path>/snippets/<id>`. */
const SNIPPET_GL_REPOSITORY = /^snippet-\d+$/;
const SNIPPET_PATH = /(^|\/)snippets\/\d+$/;

/** The path a git client typed, without leading slashes and `.git`. */
const typedPath = (params: Record<string, unknown>) => text(params.project)?.replace(/^\/+/, '').replace(/\.git$/i, '');

/** What an actor may do with one project, worked out once per request. */
interface Permissions {
  read: boolean;
  download: boolean;
  push: boolean;
}

/** The successful `/internal/allowed` body, in GitLab's key order; undefined keys are not serialised (GitLab's `compact`). */
export interface AllowedBody {
  status: true;
  gl_repository: string;
  gl_project_path: string;
  gl_project_id: number;
  gl_root_namespace_id?: number;
  gl_id: string;
  gl_username?: string;
  git_config_options: string[];
  gitaly: {
    repository: {
      storage_name: string;
      relative_path: string;
      git_object_directory: string;
      git_alternate_object_directories: string[];
      gl_repository: string;
      gl_project_path: string;
    };
    address: string;
    token: string;
    features: Record<string, string>;
  };
  gl_console_messages: string[];
  need_audit: false;
  gl_key_type?: 'key' | 'deploy_key';
  gl_key_id?: number;
}

const text = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;

/**
 * `gitaly_client_context_bin`: base64 of a JSON object. Decoded leniently like Ruby's
 * `Base64.decode64`, so only the JSON can be malformed.
 */
export function checkClientContext(value: unknown): void {
  if (value === undefined || value === null || value === '') return;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(String(value), 'base64').toString('utf8'));
  } catch {
    throw new BadRequestError(MALFORMED_CLIENT_CONTEXT);
  }
  if (!decoded || typeof decoded !== 'object' || Array.isArray(decoded)) throw new BadRequestError(CLIENT_CONTEXT_NOT_OBJECT);
}

/**
 * The rate-limit key of `/allowed`, GitLab's `[action, project, actor]` scope, from the raw params
 * (no lookups: the limit runs before any work is done).
 */
export function allowedRateLimitKey(params: Record<string, unknown>): string {
  const actor =
    params.key_id !== undefined
      ? `key-${text(params.key_id)}`
      : params.user_id !== undefined
        ? `user-${text(params.user_id)}`
        : params.username !== undefined
          ? `username-${text(params.username)}`
          : (text(params.identifier) ?? '');
  return [text(params.action) ?? '', text(params.project) ?? text(params.gl_repository) ?? '', actor].join('|');
}

/** A remembered `/allowed` success: its JSON, the key whose use it records, and until when it holds. */
interface RememberedAnswer {
  json: string;
  key?: SshKey;
  validUntil: number;
}

/** The params `/allowed` decides on (`changes` only matters when pushing creates a project, never remembered). */
const ANSWER_PARAMS = ['action', 'protocol', 'key_id', 'user_id', 'username', 'identifier', 'project', 'gl_repository', 'gitaly_client_context_bin'] as const;

/**
 * The key an answer is remembered under, from the params it depends on; undefined (not remembered)
 * when one of them is neither a string nor a number, so absent and odd values never share a key.
 */
function answerKey(params: Record<string, unknown>): string | undefined {
  const values: Array<string | number | null> = [];
  for (const name of ANSWER_PARAMS) {
    const value = params[name];
    if (value === undefined) values.push(null);
    else if (typeof value === 'string' || typeof value === 'number') values.push(value);
    else return undefined;
  }
  return `internal-api:allowed:${JSON.stringify(values)}`;
}

/** GitLab's GitAccess: who may pull or push which repository, over which protocol (`/internal/allowed`). */
export class GitAccess {
  constructor(
    private readonly internal: InternalApiServiceOptions,
    private readonly pushHooks: PushHooks,
  ) {}

  /**
   * Answers `/internal/allowed`: the success body, or throws GitLab's refusal. Checks run in GitLab's
   * order, so a request failing several checks gets the same message GitLab would give.
   */
  async allowed(params: Record<string, unknown>): Promise<AllowedBody> {
    return (await this.decide(params)).body;
  }

  /**
   * `/internal/allowed`'s answer as JSON text. GitLab Shell asks the same question (key, repository,
   * action) before every clone and fetch, so a success is remembered with the directory reads it was
   * decided from — any directory write drops it — and only until the key's expiry would change it. A
   * repeat then costs the key's use being recorded and the protocol check (flags change at run time).
   */
  async allowedJson(params: Record<string, unknown>): Promise<string> {
    const derived = this.internal.directory.readCache;
    const memoKey = answerKey(params);
    if (memoKey !== undefined) {
      const remembered = derived.peek<RememberedAnswer>(memoKey);
      if (remembered && this.internal.clock.now().getTime() < remembered.validUntil) {
        if (remembered.key) await this.internal.directory.keys.touch(remembered.key);
        this.checkProtocol(text(params.protocol));
        return remembered.json;
      }
    }
    const since = derived.generation;
    const { body, key, remember } = await this.decide(params);
    const json = JSON.stringify(body);
    if (memoKey !== undefined && remember) derived.set(memoKey, { json, key, validUntil: this.answerValidUntil(key) } satisfies RememberedAnswer, since);
    return json;
  }

  /** Until when a success holds for this key: its expiry brings the console warning, then the refusal. */
  private answerValidUntil(key: SshKey | undefined): number {
    const expiresAt = key?.expiresAt?.getTime();
    if (expiresAt === undefined) return Infinity;
    const warnFrom = expiresAt - EXPIRES_SOON_MS;
    return this.internal.clock.now().getTime() < warnFrom ? warnFrom : expiresAt;
  }

  private async decide(params: Record<string, unknown>): Promise<{ body: AllowedBody; key?: SshKey; remember: boolean }> {
    checkClientContext(params.gitaly_client_context_bin);
    // Gatehouse keeps no snippets: every snippet repository is GitAccessSnippet's "not found", its first check.
    if (this.namesSnippet(params)) throw notFound(SNIPPET_NOT_FOUND);
    const actor = await resolveActor(this.internal.directory, params);
    // GitLab records key use before deciding (`actor.update_last_used_at!`), refused or not.
    if (actor.key) await this.internal.directory.keys.touch(actor.key);

    const action = text(params.action) ?? '';
    // GitAccessDesign replaces every other check with its own two.
    if (/^design-/.test(text(params.gl_repository) ?? '')) return { body: await this.allowedDesign(actor, params), remember: false };
    this.checkProtocol(text(params.protocol));
    this.checkKey(actor.key);
    this.checkActiveUser(actor.user);
    if (!DOWNLOAD_ACTIONS.has(action) && !PUSH_ACTIONS.has(action)) throw deny(COMMAND_NOT_ALLOWED);

    const found = await this.findRepository(params);
    const repository = found ?? (await this.createOnPush(actor, action, params));
    if (!repository) throw notFound(PROJECT_NOT_FOUND);
    if (repository.kind === 'design') return { body: await this.allowedDesign(actor, params, repository), remember: false };
    const permissions = await this.permissionsOf(actor, repository.project, PUSH_ACTIONS.has(action));
    if (!permissions.read) throw notFound(repository.kind === 'wiki' ? WIKI_NOT_FOUND : PROJECT_NOT_FOUND);
    if (DOWNLOAD_ACTIONS.has(action)) this.checkDownload(repository, permissions);
    else await this.checkPush(actor, repository, permissions);

    // A project created by this push is new to every later request: nothing to remember.
    return { body: await this.successBody(actor, repository), key: actor.key, remember: found !== undefined };
  }

  /** `enabled_git_access_protocol` and the SSH ops flag; `web` (the UI's own operations) is always allowed. */
  private checkProtocol(protocol: string | undefined): void {
    if (protocol === 'web') return;
    const only = this.internal.config.gitAccessProtocol;
    if (only !== 'all' && protocol !== only) throw deny(protocolNotAllowed(protocol ?? ''));
    if (protocol === 'ssh' && !this.internal.flags.isEnabled(SSH_FLAG)) throw deny(protocolNotAllowed('ssh'));
  }

  private checkKey(key: SshKey | undefined): void {
    if (key && this.internal.directory.keys.isExpired(key)) throw deny(KEY_EXPIRED);
  }

  /** GitLab's UserAccessDeniedReason for users who may not use git at all. */
  private checkActiveUser(user: User | undefined): void {
    if (!user || user.state === 'active') return;
    if (user.state === 'deactivated') throw deny(`${ACCOUNT_DEACTIVATED} ${this.internal.app.externalUrl}`);
    throw deny(ACCOUNT_BLOCKED);
  }

  /**
   * The repository asked for. `gl_repository` (sent by Gitaly) wins over `project`; a typed path is
   * first tried as a project and only then as a wiki, as GitLab's RepoPath does, so a project really
   * named `x.wiki` is still found.
   */
  async findRepository(params: Record<string, unknown>): Promise<GitRepository | undefined> {
    const projects = this.internal.directory.projects;
    const glRepository = text(params.gl_repository);
    if (glRepository) {
      const match = /^(project|wiki|design)-(\d+)$/.exec(glRepository);
      const project = match ? await projects.findProjectById(Number(match[2])) : undefined;
      return project ? { project, kind: match![1] as GitRepository['kind'] } : undefined;
    }
    const path = typedPath(params);
    if (!path) return undefined;
    const project = await projects.findProjectByPath(path);
    if (project) return { project, kind: 'project' };
    const suffix = /\.(wiki|design)$/i.exec(path);
    if (!suffix) return undefined;
    const owner = await projects.findProjectByPath(path.slice(0, -suffix[0].length));
    return owner ? { project: owner, kind: suffix[1].toLowerCase() as GitRepository['kind'] } : undefined;
  }

  private namesSnippet(params: Record<string, unknown>): boolean {
    const glRepository = text(params.gl_repository);
    if (glRepository) return SNIPPET_GL_REPOSITORY.test(glRepository);
    return SNIPPET_PATH.test(typedPath(params) ?? '');
  }

  /**
   * A design repository (GitLab's GitAccessDesign): only the web interface reaches it, and only for
   * those who may manage the project's designs (developers, admins). Nothing else is checked.
   */
  private async allowedDesign(actor: Actor, params: Record<string, unknown>, found?: GitRepository): Promise<AllowedBody> {
    if (text(params.protocol) !== 'web') throw deny(DESIGNS_WEB_ONLY);
    const repository = found ?? (await this.findRepository(params));
    const user = actor.key?.type === 'deploy_key' ? undefined : actor.user;
    if (!repository || !user || user.state !== 'active') throw deny(DESIGNS_DENIED);
    const mayManage = user.isAdmin || (await this.internal.directory.projects.accessLevel(user.id, repository.project)) >= DEVELOPER;
    if (!mayManage) throw deny(DESIGNS_DENIED);
    return this.successBody(actor, repository);
  }

  /**
   * GitLab's push to create (`GitAccessProject#ensure_project_on_push!`): a user (never a deploy key
   * nor nobody) pushing `_any` changes to a `<namespace>/<path>` that names no project gets a private
   * project there, when they may create projects in that namespace (their own, a group they maintain,
   * or any as an admin). Anything else (pulls, wikis, snippets, unknown namespaces, no permission)
   * stays undefined, i.e. GitLab's 404. A path the model refuses is 422 `Could not create project: …`.
   */
  private async createOnPush(actor: Actor, action: string, params: Record<string, unknown>): Promise<GitRepository | undefined> {
    const user = actor.user;
    if (!PUSH_ACTIONS.has(action) || !user || actor.key?.type === 'deploy_key') return undefined;
    if (text(params.gl_repository) || text(params.changes) !== ANY_CHANGES) return undefined;
    const path = typedPath(params);
    const slash = path?.lastIndexOf('/') ?? -1;
    if (!path || slash <= 0) return undefined;
    const namespacePath = path.slice(0, slash);
    const projectPath = path.slice(slash + 1);
    // Wikis (GitAccessWiki) and snippets (GitAccessSnippet) are never created on push.
    if (/\.(wiki|design)$/i.test(projectPath) || /^snippets(\/|$)/i.test(namespacePath) || /(^|\/)snippets$/i.test(namespacePath)) return undefined;

    const projects = this.internal.directory.projects;
    const namespace = await projects.findNamespaceByPath(namespacePath);
    if (!namespace) return undefined;
    const allowed =
      user.isAdmin ||
      (namespace.kind === 'user' ? namespace.ownerId === user.id : (await projects.namespaceAccessLevel(user.id, namespace)) >= MAINTAINER);
    if (!allowed) return undefined;

    try {
      const project = await projects.createProject(
        { id: user.id, isAdmin: user.isAdmin, state: user.state },
        { name: projectPath, path: projectPath, namespaceId: namespace.id, visibility: 'private' },
      );
      await this.pushHooks.rememberProjectCreated(user.id, project, text(params.protocol));
      return { project, kind: 'project' };
    } catch (error) {
      if (error instanceof ModelValidationError) throw new GitAccessError(422, `Could not create project: ${fullMessages(error.fields)}`);
      throw error;
    }
  }

  /**
   * GitLab's ProjectPolicy, reduced to git: public code is anyone's to read; internal code any active
   * user's; private code needs reporter (a guest sees the project but not its code). Pushing needs
   * developer. Admins may do everything (GitLab bypasses admin mode for internal requests). Deploy
   * keys read the projects they are linked to, and public ones; they push only with `can_push`.
   */
  private async permissionsOf(actor: Actor, project: Project, pushing: boolean): Promise<Permissions> {
    const { visibility } = project;
    if (actor.key?.type === 'deploy_key') {
      const link = await this.internal.directory.projects.deployKeyLink(actor.key.id, project.id);
      const read = !!link || visibility === 'public';
      return { read, download: read, push: !!link?.canPush };
    }
    const user = actor.user;
    if (!user) return { read: visibility === 'public', download: visibility === 'public', push: false };
    if (user.isAdmin) return { read: true, download: true, push: true };
    // Pulling non-private code needs no membership: skip the lookup on the most common request.
    if (!pushing && visibility !== 'private') return { read: true, download: true, push: false };
    const level = await this.internal.directory.projects.accessLevel(user.id, project);
    const seesCode = visibility !== 'private' || level >= REPORTER;
    return { read: visibility !== 'private' || level > 0, download: seesCode, push: level >= DEVELOPER };
  }

  private checkDownload(repository: GitRepository, permissions: Permissions): void {
    // A wiki's git repository is readable by whoever may read the project (GitLab's download_wiki_code).
    if (repository.kind === 'wiki' ? !permissions.read : !permissions.download) {
      throw deny(repository.kind === 'wiki' ? WIKI_DOWNLOAD_DENIED : DOWNLOAD_DENIED);
    }
  }

  private async checkPush(actor: Actor, repository: GitRepository, permissions: Permissions): Promise<void> {
    if (repository.project.archived) throw deny(ARCHIVED);
    if (actor.key?.type === 'deploy_key') {
      if (!permissions.push) throw deny(DEPLOY_KEY_READ_ONLY);
      return;
    }
    if (!actor.user) throw deny(UPLOAD_DENIED);
    if (!permissions.push) throw deny(repository.kind === 'wiki' ? WIKI_WRITE_DENIED : PUSH_DENIED);
  }

  /** The body GitLab Shell and Gitaly read: identifiers, git config and where Gitaly finds the repository. */
  private async successBody(actor: Actor, repository: GitRepository): Promise<AllowedBody> {
    const { project, kind } = repository;
    const glRepository = `${kind}-${project.id}`;
    const suffix = kind === 'project' ? '' : `.${kind}`;
    const projectPath = `${project.fullPath}${suffix}`;
    const lineage = await this.internal.directory.projects.projectLineage(project);
    const isDeployKey = actor.key?.type === 'deploy_key';
    const body: AllowedBody = {
      status: true,
      gl_repository: glRepository,
      gl_project_path: projectPath,
      gl_project_id: project.id,
      gl_root_namespace_id: lineage[0]?.id,
      gl_id: actor.user && !isDeployKey ? `user-${actor.user.id}` : '',
      gl_username: isDeployKey ? undefined : actor.user?.username,
      git_config_options: this.gitConfigOptions(),
      gitaly: {
        repository: {
          storage_name: project.repositoryStorage,
          relative_path: `${project.diskPath}${suffix}.git`,
          git_object_directory: '',
          git_alternate_object_directories: [],
          gl_repository: glRepository,
          gl_project_path: projectPath,
        },
        address: this.internal.config.gitalyAddress,
        token: this.internal.gitalyToken,
        features: {},
      },
      gl_console_messages: this.consoleMessages(actor.key),
      need_audit: false,
      gl_key_type: actor.key?.type,
      gl_key_id: actor.key?.id,
    };
    // Keys left undefined are dropped by JSON serialisation: Ruby's `Hash#compact`, for free.
    return body;
  }

  private gitConfigOptions(): string[] {
    const mb = this.internal.config.receiveMaxInputSizeMb;
    return mb > 0 ? [...BASE_GIT_CONFIG, `receive.maxInputSize=${mb * MIB}`] : [...BASE_GIT_CONFIG];
  }

  private consoleMessages(key: SshKey | undefined): string[] {
    if (!key?.expiresAt) return [];
    const left = key.expiresAt.getTime() - this.internal.clock.now().getTime();
    return left < EXPIRES_SOON_MS ? [KEY_EXPIRES_SOON] : [];
  }
}

/** Rails' `errors.full_messages.join(', ')`: each message prefixed with its humanized attribute name. */
function fullMessages(fields: Record<string, string[]>): string {
  const humanize = (field: string) => {
    const words = field.replace(/_/g, ' ');
    return words.charAt(0).toUpperCase() + words.slice(1);
  };
  return Object.entries(fields)
    .flatMap(([field, messages]) => messages.map((message) => `${humanize(field)} ${message}`))
    .join(', ');
}

