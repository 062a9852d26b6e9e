import { resolveActor } from './actor.js';
import type { InternalApiServiceOptions } from './service-options.js';
import type { Project } from './types.js';

/**
 * How long a reference counter lives after its last increment (GitLab's `REFERENCE_EXPIRE_TIME`): a
 * push whose post-receive never arrives must not hold its repository's counter up for ever.
 */
export const REFERENCE_COUNTER_TTL_SECONDS = 600;

/** A new (or old) revision of all zeros: the ref is being deleted (or created). SHA-1 and SHA-256. */
/** How long a "project created" notice waits for its push's post-receive (GitLab's PostPushMessage: 5 minutes). */
export const POST_PUSH_MESSAGE_TTL_SECONDS = 300;

/** A new (or old) revision of all zeros: the ref is being deleted (or created). SHA-1 and SHA-256. */
const BLANK_SHA = /^(?:0{40}|0{64})$/;
const BRANCH_PREFIX = 'refs/heads/';

/** One line of a push's `changes`: `<old> <new> <ref>`. */
export interface PushChange {
  oldrev: string;
  newrev: string;
  ref: string;
}

/** A message Gitaly prints to the pusher (`alert`s first, then `basic`s). */
export interface PushMessage {
  message: string;
  type: 'basic' | 'alert';
}

/** `/internal/pre_receive`'s body. */
export interface PreReceiveResponse {
  reference_counter_increased: boolean;
}

/** `/internal/post_receive`'s body. */
export interface PostReceiveResponse {
  messages: PushMessage[];
  reference_counter_decreased: boolean;
}

/** What a `gl_repository` names: a project's repository or its wiki's. */
export interface GlRepository {
  type: 'project' | 'wiki';
  projectId: number;
}

/** Parses `project-42` / `wiki-42`; anything else (snippets, designs, garbage) is undefined. */
export function parseGlRepository(value: unknown): GlRepository | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(project|wiki)-([1-9]\d*)$/.exec(value);
  if (!match) return undefined;
  const projectId = Number(match[2]);
  return Number.isSafeInteger(projectId) ? { type: match[1] as GlRepository['type'], projectId } : undefined;
}

/** Parses `changes` as GitLab's `ChangesList` does: one `<old> <new> <ref>` per line, blank lines skipped. */
export function parseChanges(changes: unknown): PushChange[] {
  const lines = typeof changes === 'string' ? changes.split('\n') : Array.isArray(changes) ? changes : [];
  const parsed: PushChange[] = [];
  for (const line of lines) {
    if (typeof line !== 'string' || !line.trim()) continue;
    const [oldrev = '', newrev = '', ref = ''] = line.trim().split(/\s+/);
    parsed.push({ oldrev, newrev, ref });
  }
  return parsed;
}

/** Ruby's `CGI.escape`, which Rails' `to_query` uses: like encodeURIComponent, plus `!'()*`, space as `+`. */
function cgiEscape(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/**
 * The branches a push offers a merge request for (GitLab's `MergeRequests::GetUrlsService`): pushed
 * branches that are neither deleted nor the project's default branch, in push order.
 */
export function mergeRequestBranches(project: Pick<Project, 'defaultBranch'>, changes: readonly PushChange[]): string[] {
  const branches: string[] = [];
  for (const change of changes) {
    if (!change.ref.startsWith(BRANCH_PREFIX) || BLANK_SHA.test(change.newrev)) continue;
    const branch = change.ref.slice(BRANCH_PREFIX.length);
    if (branch && branch !== project.defaultBranch) branches.push(branch);
  }
  return branches;
}

/**
 * Gitaly's pre-receive and post-receive hooks: the per-repository reference counter (GitLab's
 * `Gitlab::ReferenceCounter`, which tells whether a push is in flight) and the messages shown to the
 * pusher. The counter lives in Redis when there is one, so every instance sees the same count; else in
 * this process.
 */
export class PushHooks {
  private readonly counters = new Map<string, { count: number; expiresAt: number }>();
  /** Post-push notices when there is no Redis, by key, until they are shown or expire. */
  private readonly notices = new Map<string, { message: string; expiresAt: number }>();

  constructor(private readonly internal: InternalApiServiceOptions) {}

  /** The Redis key of a repository's counter. */
  counterKey(glRepository: string): string {
    return `${this.internal.app.redisKeyPrefix}internal-api:refcount:${glRepository}`;
  }

  /** `/internal/pre_receive`: a push begins. False only when the counter could not be written. */
  async preReceive(params: Record<string, unknown>): Promise<PreReceiveResponse> {
    return { reference_counter_increased: await this.increase(repositoryName(params.gl_repository)) };
  }

  /**
   * `/internal/post_receive`: a push ended. The counter goes down whatever else happens; messages need
   * a user (an orphaned deploy key gets none) and a project repository (a wiki gets none).
   */
  async postReceive(params: Record<string, unknown>): Promise<PostReceiveResponse> {
    const decreased = await this.decrease(repositoryName(params.gl_repository));
    return { messages: await this.messagesFor(params), reference_counter_decreased: decreased };
  }

  /** The counter's current value (0 when absent or expired). */
  async referenceCount(glRepository: string): Promise<number> {
    const redis = this.internal.redis;
    if (redis) return Number((await redis.get(this.counterKey(glRepository))) ?? 0);
    return this.liveCounter(glRepository)?.count ?? 0;
  }

  private async increase(glRepository: string): Promise<boolean> {
    const redis = this.internal.redis;
    if (!redis) {
      const count = (this.liveCounter(glRepository)?.count ?? 0) + 1;
      this.counters.set(glRepository, { count, expiresAt: this.nowMs() + REFERENCE_COUNTER_TTL_SECONDS * 1000 });
      return true;
    }
    try {
      const key = this.counterKey(glRepository);
      const results = await redis.multi().incr(key).expire(key, REFERENCE_COUNTER_TTL_SECONDS).exec();
      return !!results && results.every(([error]) => !error);
    } catch (error) {
      this.internal.logger.warn({ err: error, glRepository }, 'reference counter increase failed');
      return false;
    }
  }

  /** Never below 0: GitLab deletes a counter that went negative (a post-receive without its pre-receive). */
  private async decrease(glRepository: string): Promise<boolean> {
    const redis = this.internal.redis;
    if (!redis) {
      const counter = this.liveCounter(glRepository);
      if (counter && counter.count > 1) counter.count -= 1;
      else this.counters.delete(glRepository);
      return true;
    }
    try {
      const key = this.counterKey(glRepository);
      if ((await redis.decr(key)) <= 0) await redis.del(key);
      return true;
    } catch (error) {
      this.internal.logger.warn({ err: error, glRepository }, 'reference counter decrease failed');
      return false;
    }
  }

  /**
   * GitLab's `ProjectCreated` notice: a push that created its project tells the pusher how to point a
   * remote at it, once, in that push's post-receive (remembered for 5 minutes, in Redis when there is one).
   */
  async rememberProjectCreated(userId: number, project: Project, protocol: string | undefined): Promise<void> {
    const urls = this.internal.directory.projectUrls(project);
    const message = [
      '',
      `The private project ${project.fullPath} was successfully created.`,
      '',
      'To configure the remote, run:',
      `  git remote add origin ${protocol === 'ssh' ? urls.ssh_url_to_repo : urls.http_url_to_repo}`,
      '',
      'To view the project, visit:',
      `  ${urls.web_url}`,
      '',
      '',
    ].join('\n');
    const key = this.projectCreatedKey(userId, project.id);
    const redis = this.internal.redis;
    if (!redis) {
      this.notices.set(key, { message, expiresAt: this.nowMs() + POST_PUSH_MESSAGE_TTL_SECONDS * 1000 });
      return;
    }
    try {
      await redis.setex(key, POST_PUSH_MESSAGE_TTL_SECONDS, message);
    } catch (error) {
      // The project exists either way; only the notice is lost.
      this.internal.logger.warn({ err: error, projectId: project.id }, 'project created notice not stored');
    }
  }

  /** The notice for this user and project, if one waits: read once, then gone. */
  private async takeProjectCreated(userId: number, projectId: number): Promise<string | undefined> {
    const key = this.projectCreatedKey(userId, projectId);
    const redis = this.internal.redis;
    if (!redis) {
      const notice = this.notices.get(key);
      this.notices.delete(key);
      return notice && notice.expiresAt > this.nowMs() ? notice.message : undefined;
    }
    try {
      const [[, message]] = (await redis.multi().get(key).del(key).exec()) as [[unknown, string | null], unknown];
      return message ?? undefined;
    } catch (error) {
      this.internal.logger.warn({ err: error, projectId }, 'project created notice not read');
      return undefined;
    }
  }

  private projectCreatedKey(userId: number, projectId: number): string {
    return `${this.internal.app.redisKeyPrefix}internal-api:project_created:${userId}:${projectId}`;
  }

  private liveCounter(glRepository: string) {
    const counter = this.counters.get(glRepository);
    if (counter && counter.expiresAt <= this.nowMs()) {
      this.counters.delete(glRepository);
      return undefined;
    }
    return counter;
  }

  private nowMs(): number {
    return this.internal.clock.now().getTime();
  }

  private async messagesFor(params: Record<string, unknown>): Promise<PushMessage[]> {
    const repository = parseGlRepository(params.gl_repository);
    if (!repository) return [];
    const { user } = await resolveActor(this.internal.directory, params);
    if (!user || repository.type !== 'project') return [];
    const project = await this.internal.directory.projects.findProjectById(repository.projectId);
    if (!project) return [];
    const messages: PushMessage[] = mergeRequestBranches(project, parseChanges(params.changes)).map((branch) => ({
      message: `To create a merge request for ${branch}, visit:\n  ${this.newMergeRequestUrl(project, branch)}`,
      type: 'basic',
    }));
    // After the merge request links, as GitLab's PostReceiveService adds them.
    const created = await this.takeProjectCreated(user.id, project.id);
    if (created) messages.push({ message: created, type: 'basic' });
    return messages;
  }

  private newMergeRequestUrl(project: Project, branch: string): string {
    const base = this.internal.app.externalUrl.replace(/\/+$/, '');
    return `${base}/${project.fullPath}/-/merge_requests/new?merge_request%5Bsource_branch%5D=${cgiEscape(branch)}`;
  }
}

/** The counter's name for a `gl_repository` param as sent (GitLab counts even unparsable names). */
const repositoryName = (value: unknown): string => (typeof value === 'string' ? value : '');
