import { createHash, randomBytes } from 'node:crypto';
import { BadRequestError, NotFoundError, RecordNotFoundError, uniqueViolation, type Logger, type Clock } from 'gatehouse';
import { KubernetesAgentRepository, type Agent, type AgentToken, type CiliumAlert, type Vulnerability } from './repository.js';
import type { DirectoryServices, Project, Viewer } from './types.js';

/** GitLab's agent token prefix (`Clusters::AgentToken::TOKEN_PREFIX`). */
export const AGENT_TOKEN_PREFIX = 'glagent-';
/** Managing agents and their tokens needs maintainer (GitLab's create_cluster / admin_cluster). */
export const MANAGE_ACCESS = 40;
/** Reading a project's vulnerabilities needs developer (GitLab's read_vulnerability). */
export const READ_VULNERABILITY_ACCESS = 30;
/** `last_used_at` is written at most this often per token: KAS calls several times a minute per agent. */
export const LAST_USED_WRITE_INTERVAL_MS = 10_000;

// Model-error texts, verbatim from GitLab (Clusters::Agent, Clusters::AgentToken, Gitlab::Regex).
const BLANK = "can't be blank";
const TAKEN = 'has already been taken';
const AGENT_NAME_FORMAT = "can contain only lowercase letters, digits, and '-', but cannot start or end with '-'";
const tooLong = (max: number) => `is too long (maximum is ${max} characters)`;
const AGENT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_AGENT_NAME = 63;
const MAX_TOKEN_NAME = 255;
const MAX_TOKEN_DESCRIPTION = 1024;

/** Counters of the original usage_metrics body (`gitops_sync_count`, …) and of KAS's `counters` hash. */
export const ORIGINAL_COUNTERS = ['gitops_sync_count', 'k8s_api_proxy_request_count'] as const;
export const KNOWN_COUNTERS = [
  'gitops_sync',
  'k8s_api_proxy_request',
  'flux_git_push_notifications_total',
  'k8s_api_proxy_requests_via_ci_access',
  'k8s_api_proxy_requests_via_user_access',
  'k8s_api_proxy_requests_via_pat_access',
] as const;
export const KNOWN_UNIQUE_COUNTERS = [
  'agent_users_using_ci_tunnel',
  'k8s_api_proxy_requests_unique_users_via_ci_access',
  'k8s_api_proxy_requests_unique_agents_via_ci_access',
  'k8s_api_proxy_requests_unique_users_via_user_access',
  'k8s_api_proxy_requests_unique_agents_via_user_access',
  'k8s_api_proxy_requests_unique_users_via_pat_access',
  'k8s_api_proxy_requests_unique_agents_via_pat_access',
  'flux_git_push_notified_unique_projects',
] as const;

/** A fixed UUIDv5 namespace for finding UUIDs, so the same finding always gets the same UUID. */
const FINDING_UUID_NAMESPACE = '58dc0f06-936c-57b3-93bb-d0a92feacf6a';
const CLUSTER_IMAGE_SCANNING = 'cluster_image_scanning';
const DEFAULT_ALERT_TITLE = 'New: Alert';

/** Ruby's `Array#inspect` of strings: GitLab interpolates the model's full messages into `bad_request!`. */
const rubyInspect = (messages: readonly string[]) => `[${messages.map((m) => JSON.stringify(m)).join(', ')}]`;
const sha1 = (value: string) => createHash('sha1').update(value).digest('hex');

/** JSON with object keys sorted: the same hash however a client ordered its keys. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value as object)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** RFC 4122 version 5 (SHA-1, name-based) UUID. */
export function uuidV5(name: string, namespace: string = FINDING_UUID_NAMESPACE): string {
  const hash = createHash('sha1').update(Buffer.from(namespace.replace(/-/g, ''), 'hex')).update(name).digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Where Gitaly keeps a project's repository, as KAS needs it to fetch manifests and agent config. */
export interface GitalyInfo {
  address: string;
  token: string;
}

/** The usage_metrics body after validation: the original counts, and/or KAS's current hashes. */
export interface UsageInput {
  gitops_sync_count?: number;
  k8s_api_proxy_request_count?: number;
  counters?: Partial<Record<(typeof KNOWN_COUNTERS)[number], number>> | null;
  unique_counters?: Partial<Record<(typeof KNOWN_UNIQUE_COUNTERS)[number], number[]>> | null;
}

/** A Starboard report after validation (both the original and the current KAS shapes). */
export interface StarboardInput {
  vulnerability: {
    name: string;
    severity: string;
    confidence?: string;
    location: Record<string, unknown>;
    identifiers: Array<{ type: string; name: string; value?: string; url?: string }>;
    [key: string]: unknown;
  };
  scanner: { id: string; name: string; vendor?: { name: string } };
}

export interface KubernetesAgentServiceOptions {
  repository: KubernetesAgentRepository;
  directory: DirectoryServices;
  /** The peppered digest tokens are stored under (the tokens plugin's). */
  digest: (token: string) => string;
  clock: Clock;
  gitaly: GitalyInfo;
  logger: Logger;
}

/**
 * Agents, their tokens and what KAS reports. Management follows GitLab's API: the project must be
 * visible (else 404 Project Not Found); listing needs maintainer (else GitLab's 404s, no existence
 * leak); changing needs maintainer (else 403).
 */
export class KubernetesAgentService {
  readonly repository: KubernetesAgentRepository;
  readonly directory: DirectoryServices;
  readonly clock: Clock;
  readonly gitaly: GitalyInfo;
  readonly logger: Logger;
  private readonly digest: (token: string) => string;

  constructor(options: KubernetesAgentServiceOptions) {
    this.repository = options.repository;
    this.directory = options.directory;
    this.digest = options.digest;
    this.clock = options.clock;
    this.gitaly = options.gitaly;
    this.logger = options.logger;
  }

  // ——— Management ———

  /** The project of a management route: by id or full path, visible to the viewer. */
  project(viewer: Viewer, ref: string): Promise<Project> {
    return this.directory.projects.visibleProject(viewer, ref);
  }

  private async isMaintainer(viewer: Viewer, project: Project): Promise<boolean> {
    return viewer.isAdmin || (await this.directory.projects.accessLevel(viewer.id, project)) >= MANAGE_ACCESS;
  }

  /** `GET /projects/:id/cluster_agents`: 404 `ClusterAgents Not Found` for non-maintainers. */
  async listAgents(viewer: Viewer, project: Project, page: { offset: number; limit: number }) {
    if (!(await this.isMaintainer(viewer, project))) throw new NotFoundError('ClusterAgents');
    return this.repository.listAgents(project.id, page);
  }

  /**
   * An agent of the project. GitLab's AgentsFinder finds nothing for a user who may not read clusters,
   * and `find` then raises RecordNotFound: `404 Not found`, whether or not the agent exists.
   */
  async findAgent(viewer: Viewer, project: Project, agentId: number): Promise<Agent> {
    const agent = (await this.isMaintainer(viewer, project)) ? await this.repository.findAgent(project.id, agentId) : undefined;
    if (!agent) throw new RecordNotFoundError();
    return agent;
  }

  /** `POST /projects/:id/cluster_agents`: maintainers (403); model errors are `400 Bad request - [...]`. */
  async createAgent(viewer: Viewer, project: Project, name: string): Promise<Agent> {
    await this.directory.projects.requireProjectAccess(viewer, project, MANAGE_ACCESS);
    const errors: string[] = [];
    if (name.trim() === '') errors.push(`Name ${BLANK}`);
    if (name.length > MAX_AGENT_NAME) errors.push(`Name ${tooLong(MAX_AGENT_NAME)}`);
    if (await this.repository.agentNameTaken(project.id, name)) errors.push(`Name ${TAKEN}`);
    if (!AGENT_NAME.test(name)) errors.push(`Name ${AGENT_NAME_FORMAT}`);
    if (errors.length) throw new BadRequestError(rubyInspect(errors));
    try {
      return await this.repository.insertAgent({ projectId: project.id, name, createdByUserId: viewer.id, now: this.clock.now() });
    } catch (error) {
      // A concurrent registration of the same name won the race: the answer the pre-check gives.
      if (uniqueViolation(error)) throw new BadRequestError(rubyInspect([`Name ${TAKEN}`]));
      throw error;
    }
  }

  /** `DELETE /projects/:id/cluster_agents/:agent_id`: 403, then 404; the agent's tokens go with it. */
  async deleteAgent(viewer: Viewer, project: Project, agentId: number): Promise<void> {
    await this.directory.projects.requireProjectAccess(viewer, project, MANAGE_ACCESS);
    const agent = await this.findAgent(viewer, project, agentId);
    await this.repository.deleteAgent(agent.id);
  }

  /** `GET …/tokens`: the agent's active tokens. */
  async listTokens(viewer: Viewer, project: Project, agentId: number, page: { offset: number; limit: number }) {
    const agent = await this.findAgent(viewer, project, agentId);
    return this.repository.listActiveTokens(agent.id, page);
  }

  /** `GET …/tokens/:token_id`: an active token of the agent, else `404 Not found`. */
  async findToken(viewer: Viewer, project: Project, agentId: number, tokenId: number): Promise<AgentToken> {
    const agent = await this.findAgent(viewer, project, agentId);
    const token = await this.repository.findToken(agent.id, tokenId);
    if (!token || token.status !== 'active') throw new RecordNotFoundError();
    return token;
  }

  /** `POST …/tokens`: a new `glagent-` token; its plaintext exists only in this answer. */
  async createToken(
    viewer: Viewer,
    project: Project,
    agentId: number,
    input: { name: string; description?: string },
  ): Promise<{ token: AgentToken; plaintext: string }> {
    await this.directory.projects.requireProjectAccess(viewer, project, MANAGE_ACCESS);
    const agent = await this.findAgent(viewer, project, agentId);
    // Clusters::AgentToken validates description before name.
    const errors: string[] = [];
    if (input.description !== undefined && input.description.length > MAX_TOKEN_DESCRIPTION) errors.push(`Description ${tooLong(MAX_TOKEN_DESCRIPTION)}`);
    if (input.name.trim() === '') errors.push(`Name ${BLANK}`);
    if (input.name.length > MAX_TOKEN_NAME) errors.push(`Name ${tooLong(MAX_TOKEN_NAME)}`);
    if (errors.length) throw new BadRequestError(rubyInspect(errors));
    // Devise.friendly_token(50): 50 URL-safe characters.
    const plaintext = `${AGENT_TOKEN_PREFIX}${randomBytes(38).toString('base64url').slice(0, 50)}`;
    const token = await this.repository.insertToken({
      agentId: agent.id,
      name: input.name,
      description: input.description ?? null,
      digest: this.digest(plaintext),
      createdByUserId: viewer.id,
      now: this.clock.now(),
    });
    return { token, plaintext };
  }

  /** `DELETE …/tokens/:token_id`: 403, then 404 for an unknown agent or token; revoking twice is fine. */
  async revokeToken(viewer: Viewer, project: Project, agentId: number, tokenId: number): Promise<void> {
    await this.directory.projects.requireProjectAccess(viewer, project, MANAGE_ACCESS);
    const agent = await this.findAgent(viewer, project, agentId);
    const token = await this.repository.findToken(agent.id, tokenId);
    if (!token) throw new RecordNotFoundError();
    await this.repository.revokeToken(token.id);
  }

  // ——— KAS ———

  /**
   * The agent an agent token belongs to, or undefined for an unknown or revoked token. Not cached:
   * a revoked token must stop working at once on every instance. Records `last_used_at` (at most once
   * per LAST_USED_WRITE_INTERVAL_MS); a failed write must not fail the request it describes.
   */
  async authenticateAgent(presented: string): Promise<{ agent: Agent; token: AgentToken } | undefined> {
    if (!presented) return undefined;
    const found = await this.repository.findActiveTokenByDigest(this.digest(presented));
    if (!found) return undefined;
    const now = this.clock.now();
    if (!found.token.lastUsedAt || now.getTime() - found.token.lastUsedAt.getTime() >= LAST_USED_WRITE_INTERVAL_MS) {
      await this.repository.touchToken(found.token.id, now).catch((error) => this.logger.warn({ err: error }, 'could not record agent token use'));
      found.token.lastUsedAt = now;
    }
    return found;
  }

  /** What KAS needs to reach a project's repository through Gitaly. */
  private async repositoryInfo(project: Project) {
    return {
      project_id: project.id,
      gitaly_info: { address: this.gitaly.address, token: this.gitaly.token },
      gitaly_repository: {
        storage_name: project.repositoryStorage,
        relative_path: `${project.diskPath}.git`,
        git_object_directory: '',
        git_alternate_object_directories: [] as string[],
        gl_repository: `project-${project.id}`,
        gl_project_path: project.fullPath,
      },
      default_branch: project.defaultBranch || 'main',
    };
  }

  private async agentProject(agent: Agent): Promise<Project> {
    const project = await this.directory.projects.findProjectById(agent.projectId);
    if (!project) throw new NotFoundError();
    return project;
  }

  /** `agent_info`: the agent and its configuration project's repository. */
  async agentInfo(agent: Agent) {
    const { project_id, gitaly_info, gitaly_repository, default_branch } = await this.repositoryInfo(await this.agentProject(agent));
    return { project_id, agent_id: agent.id, agent_name: agent.name, gitaly_info, gitaly_repository, default_branch };
  }

  /**
   * The project `project_info` and `verify_project_access` ask about, when the agent may read it:
   * code anonymous users may download (a public project), or the agent's own project. Anything else,
   * existing or not, is `404 Not Found`.
   */
  async accessibleProject(agent: Agent, ref: unknown): Promise<Project> {
    const text = typeof ref === 'number' ? String(ref) : typeof ref === 'string' ? ref : '';
    const project = !text
      ? undefined
      : /^\d+$/.test(text)
        ? await this.directory.projects.findProjectById(Number(text))
        : await this.directory.projects.findProjectByPath(text);
    if (!project || (project.visibility !== 'public' && project.id !== agent.projectId)) throw new NotFoundError();
    return project;
  }

  async projectInfo(agent: Agent, ref: unknown) {
    return this.repositoryInfo(await this.accessibleProject(agent, ref));
  }

  /**
   * `usage_metrics`: adds the original body's counts and the `counters` hash to the totals and records
   * the `unique_counters` values. A negative count is GitLab's ArgumentError, `400 Bad request - …`.
   */
  async recordUsage(input: UsageInput): Promise<void> {
    const counts = new Map<string, number>();
    const add = (name: string, value: number | undefined) => {
      if (value === undefined) return;
      if (value < 0) throw new BadRequestError(`${name} count must be greater than or equal to zero`);
      counts.set(name, (counts.get(name) ?? 0) + value);
    };
    for (const key of ORIGINAL_COUNTERS) add(key.replace(/_count$/, ''), input[key]);
    for (const key of KNOWN_COUNTERS) add(key, input.counters?.[key]);
    const unique = new Map<string, number[]>();
    for (const key of KNOWN_UNIQUE_COUNTERS) {
      const values = input.unique_counters?.[key];
      if (values?.length) unique.set(key, values);
    }
    if (!counts.size && !unique.size) return;
    // All or nothing: a report KAS retries after a failure must not count twice.
    await this.repository.db.transaction(async (trx) => {
      for (const [name, increment] of counts) if (increment > 0) await this.repository.incrementCounter(name, increment, trx);
      for (const [counter, values] of unique) await this.repository.addUniqueValues(counter, values, trx);
    });
  }

  /** `cilium_alert`: stores the alert against the agent's project (repeats add events to one alert). */
  async recordCiliumAlert(agent: Agent, alert: Record<string, unknown>): Promise<CiliumAlert> {
    const project = await this.agentProject(agent);
    const policy = (alert.ciliumNetworkPolicy as { metadata?: { name?: unknown } } | undefined)?.metadata?.name;
    const title = typeof alert.title === 'string' && alert.title ? alert.title : typeof policy === 'string' && policy ? policy : DEFAULT_ALERT_TITLE;
    const description = typeof alert.description === 'string' ? alert.description : typeof alert.message === 'string' ? alert.message : null;
    const fingerprint = sha1(typeof alert.fingerprint === 'string' && alert.fingerprint ? alert.fingerprint : canonicalJson(alert));
    const row = { projectId: project.id, agentId: agent.id, fingerprint, title: title.slice(0, 255), description, payload: alert, now: this.clock.now() };
    return this.repository.db.transaction((trx) => this.repository.recordAlert(row, trx));
  }

  /**
   * `starboard_vulnerability`: one vulnerability per finding UUID in the agent's project, so the same
   * report twice creates one. The UUID is derived as GitLab derives finding UUIDs: report type, the
   * primary identifier's fingerprint, the location's fingerprint and the project.
   */
  async recordStarboardVulnerability(agent: Agent, input: StarboardInput): Promise<Vulnerability> {
    const project = await this.agentProject(agent);
    const uuid = findingUuid(project.id, input.vulnerability);
    return this.repository.upsertVulnerability({
      projectId: project.id,
      agentId: agent.id,
      uuid,
      name: input.vulnerability.name.slice(0, 255),
      severity: input.vulnerability.severity.toLowerCase(),
      confidence: input.vulnerability.confidence?.toLowerCase() ?? null,
      report: { vulnerability: input.vulnerability, scanner: input.scanner },
      now: this.clock.now(),
    });
  }

  /** A project's Cilium alerts, for its maintainers (403 otherwise). */
  async listAlerts(viewer: Viewer, project: Project, page: { offset: number; limit: number }) {
    await this.directory.projects.requireProjectAccess(viewer, project, MANAGE_ACCESS);
    return this.repository.listAlerts(project.id, page);
  }

  /** A project's Starboard vulnerabilities, for developers and up (403 otherwise). */
  async listVulnerabilities(viewer: Viewer, project: Project, page: { offset: number; limit: number }) {
    await this.directory.projects.requireProjectAccess(viewer, project, READ_VULNERABILITY_ACCESS);
    return this.repository.listVulnerabilities(project.id, page);
  }
}

/** The finding UUID of a cluster image scanning vulnerability in a project. */
export function findingUuid(projectId: number, vulnerability: StarboardInput['vulnerability']): string {
  const primary = vulnerability.identifiers[0];
  const identifierFingerprint = sha1(`${primary?.type ?? ''}:${primary?.value ?? primary?.name ?? ''}`);
  const location = vulnerability.location;
  const resource = location.kubernetes_resource as Record<string, unknown> | undefined;
  const dependency = location.dependency as { package?: { name?: unknown } } | undefined;
  // Current KAS reports name the workload and package; older reports' locations are hashed whole.
  const locationData =
    resource && typeof resource === 'object'
      ? [resource.agent_id, resource.namespace, resource.kind, resource.name, resource.container_name, dependency?.package?.name].map((v) => String(v ?? '')).join(':')
      : canonicalJson(location);
  return uuidV5(`${CLUSTER_IMAGE_SCANNING}-${identifierFingerprint}-${sha1(locationData)}-${projectId}`);
}
