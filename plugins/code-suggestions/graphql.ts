import type { DocumentNode, GraphQLSchema } from 'graphql';
import type { Logger, PrincipalUser } from 'gatehouse';
import { CONTEXT_TYPES } from './completions-input.js';
import type { FilteredDocument } from './gl-introduced.js';
import type { QueryLimits } from './graphql-limits.js';
import { CONTEXT_FLAG, type CodeSuggestionsService, type Namespace, type Project } from './service.js';

/**
 * The part of GitLab's GraphQL schema the GitLab Language Server queries (clients.md §1 row 4):
 * whether Code Suggestions (and Chat) are available to the current user and with which features, the
 * user itself, instance feature flags and metadata, and whether Duo is on in projects. Names and types
 * are GitLab's; each type has only the fields listed here.
 */
const SDL = /* GraphQL */ `
  type Query {
    "The user the request is authenticated as."
    currentUser: CurrentUser
    "Whether an instance feature flag is enabled (for the current user); false for unknown flags."
    featureFlagEnabled(name: String!): Boolean!
    "Instance metadata."
    metadata: Metadata
    "A project by full path; null when it does not exist or the user cannot see it."
    project(fullPath: ID!): Project
    "The projects with these global ids that the user can see."
    projects(ids: [ID!]): ProjectConnection
  }

  type CurrentUser {
    id: ID!
    username: String!
    name: String!
    webUrl: String!
    publicEmail: String
    avatarUrl: String
    bot: Boolean!
    "Whether the user may use Code Suggestions."
    duoCodeSuggestionsAvailable: Boolean!
    "Whether the user may use Duo Chat (not served by this gateway)."
    duoChatAvailable: Boolean!
    "The Duo Chat features available to the user (none: Duo Chat is not served by this gateway)."
    duoChatAvailableFeatures: [String!]
    "The context types completions may carry to the AI gateway."
    codeSuggestionsContexts: [String!]
    userPreferences: UserPreferences
    ide: Ide
  }

  type Ide {
    codeSuggestionsEnabled: Boolean!
  }

  type UserPreferences {
    "Default namespace for Duo features when none can be inferred."
    duoDefaultNamespace: Namespace
  }

  type Namespace {
    id: ID!
    fullName: String!
    fullPath: ID!
  }

  type Metadata {
    version: String!
    revision: String!
    enterprise: Boolean!
    "The instance feature flags among these names (at most 20) that exist."
    featureFlags(names: [String!]!): [GitlabInstanceFeatureFlag!]!
  }

  type GitlabInstanceFeatureFlag {
    enabled: Boolean!
    name: String!
  }

  type Project {
    id: ID!
    "Whether GitLab Duo features are enabled in the project."
    duoFeaturesEnabled: Boolean
  }

  type ProjectConnection {
    edges: [ProjectEdge]
    nodes: [Project]
  }

  type ProjectEdge {
    node: Project
  }
`;

export interface GraphqlRequest {
  query?: unknown;
  variables?: unknown;
  operationName?: unknown;
}

/** The flag that switches Code Suggestions off for everyone (GitLab's `ai_duo_code_suggestions_switch`). */
export const SWITCH_FLAG = 'ai_duo_code_suggestions_switch';
/** GitLab's limit on `Metadata.featureFlags(names:)`, and graphql-ruby's message past it. */
export const MAX_FEATURE_FLAG_NAMES = 20;
export const TOO_MANY_FLAG_NAMES = `names is too long (maximum is ${MAX_FEATURE_FLAG_NAMES})`;
/** GitLab's largest page of a connection: `projects(ids:)` answers the first 100. */
const MAX_PAGE_SIZE = 100;
/** gatehouse cannot list projects; `projects` answers only for the ids it is given. */
export const PROJECTS_NEED_IDS = 'projects can only be looked up by ids here';
/**
 * GitLab reads the projects of all `projects(ids:)` fields of a query in one batch; gatehouse reads
 * them one by one, so one query may ask for at most a page of distinct ids over all its aliases.
 */
export const TOO_MANY_PROJECT_IDS = `projects can look up at most ${MAX_PAGE_SIZE} ids per query`;
/** GitLab's global ids: `gid://gitlab/<Model>/<id>`. */
const GLOBAL_ID = /^gid:\/\/[^/]+\/([^/]+)\/([^/]+)$/;

interface Engine {
  schema: GraphQLSchema;
  graphql: typeof import('graphql');
  filterFutureFields: (document: DocumentNode, currentVersion: string) => FilteredDocument;
  limits: typeof import('./graphql-limits.js');
}

/** What one request has read, by key: aliases asking for the same thing again get the same answer. */
class ReadOnce<K, V> {
  private readonly answers = new Map<K, Promise<V>>();

  get size(): number {
    return this.answers.size;
  }

  has(key: K): boolean {
    return this.answers.has(key);
  }

  get(key: K, read: () => Promise<V>): Promise<V> {
    let answer = this.answers.get(key);
    if (!answer) this.answers.set(key, (answer = read()));
    return answer;
  }
}

/** `read`, run on the first call only; later calls get the same answer. */
function once<V>(read: () => Promise<V>): () => Promise<V> {
  let answer: Promise<V> | undefined;
  return () => (answer ??= read());
}

const projectGid = (id: number) => `gid://gitlab/Project/${id}`;
// A personal namespace's model is `Namespaces::UserNamespace` in GitLab; a group's is `Group`.
const namespaceGid = (namespace: Namespace) => `gid://gitlab/${namespace.kind === 'group' ? 'Group' : 'Namespaces::UserNamespace'}/${namespace.id}`;

/** GitLab's depth and complexity for a signed-in user, higher complexity for an admin (`GitlabSchema`). */
function limitsFor(user: PrincipalUser, limits: typeof import('./graphql-limits.js')): QueryLimits {
  return {
    maxDepth: limits.AUTHENTICATED_MAX_DEPTH,
    maxComplexity: user.isAdmin ? limits.ADMIN_MAX_COMPLEXITY : limits.AUTHENTICATED_MAX_COMPLEXITY,
  };
}

/**
 * Runs the Language Server's queries against the small schema; unknown fields are GraphQL errors, and
 * fields tagged `@gl_introduced` with a version after the one gatehouse answers as are null. GitLab's
 * limits (size, depth, complexity) and gatehouse's own (selection width, list arguments) refuse a query
 * before it is validated or run. The `graphql` package is loaded (and the schema built) on the first
 * query, not at boot.
 */
export class GraphqlEndpoint {
  private engine?: Promise<Engine>;

  constructor(
    private readonly service: CodeSuggestionsService,
    private readonly revision: string,
    private readonly logger: Logger,
  ) {}

  /** `{"data":…}` or `{"errors":[…]}`, and the HTTP status graphql-over-http gives it. */
  async execute(request: GraphqlRequest, user: PrincipalUser, requestId: string): Promise<{ status: number; body: Record<string, unknown> }> {
    if (typeof request.query !== 'string' || request.query.trim() === '') {
      return { status: 400, body: { errors: [{ message: 'No query string was present' }] } };
    }
    const variables = request.variables ?? undefined;
    if (variables !== undefined && variables !== null && (typeof variables !== 'object' || Array.isArray(variables))) {
      return { status: 400, body: { errors: [{ message: 'Variables must be an object' }] } };
    }
    const operationName = typeof request.operationName === 'string' ? request.operationName : undefined;
    const { schema, graphql, filterFutureFields, limits } = await this.load();
    // GitLab measures the text before anything else, and answers 422.
    if (limits.tooLarge(request.query)) return { status: 422, body: { errors: [{ message: limits.QUERY_TOO_LARGE }] } };
    const queryLimits = limitsFor(user, limits);
    const answer = (result: { data?: unknown; errors?: readonly import('graphql').GraphQLError[] }) => {
      const errors = result.errors?.map((error) => {
        // A resolver's own failure (the database, say) is logged, never shown: the client gets a generic error.
        if (!error.originalError || error.originalError instanceof graphql.GraphQLError) return error.toJSON();
        this.logger.error({ err: error.originalError, requestId }, 'GraphQL resolver failed');
        return { message: 'Internal server error', locations: error.locations, path: error.path };
      });
      return { status: 200, body: JSON.parse(JSON.stringify(errors ? { ...result, errors } : result)) };
    };

    const tooDeep = limits.scanNesting(request.query, queryLimits.maxDepth);
    if (tooDeep) return answer({ errors: [tooDeep] });
    let document: DocumentNode;
    try {
      document = graphql.parse(request.query, { maxTokens: limits.MAX_QUERY_SIZE });
    } catch (error) {
      if (error instanceof graphql.GraphQLError) return answer({ errors: [error] });
      throw error;
    }
    const filtered = filterFutureFields(document, this.service.version);
    // Fields of later versions are placeholders by now: the limits measure what would run.
    const overLimits = limits.checkLimits(filtered.document, variables as Record<string, unknown> | undefined, operationName, queryLimits);
    if (overLimits.length) return answer({ errors: overLimits });
    const invalid = graphql.validate(schema, filtered.document, filtered.rules);
    if (invalid.length) return answer({ errors: invalid });
    const result = await graphql.execute({
      schema,
      document: filtered.document,
      rootValue: this.rootFor(user, graphql.GraphQLError),
      variableValues: (variables as Record<string, unknown> | null | undefined) ?? undefined,
      operationName,
    });
    filtered.nullFutureFields(result.data, operationName);
    return answer(result);
  }

  private load(): Promise<Engine> {
    return (this.engine ??= Promise.all([import('graphql'), import('./gl-introduced.js'), import('./graphql-limits.js')]).then(([graphql, introduced, limits]) => ({
      schema: graphql.buildSchema(SDL + introduced.GL_INTRODUCED_SDL),
      graphql,
      filterFutureFields: introduced.filterFutureFields,
      limits,
    })));
  }

  /** The resolvers of one request, as the root value's fields (and their objects' fields). */
  private rootFor(user: PrincipalUser, GraphQLError: typeof import('graphql').GraphQLError) {
    const service = this.service;
    const flagContext = { userId: String(user.id) };
    // Aliases repeat fields at will: whatever a field reads is read once per request.
    const available = once(async () => service.flags.isEnabled(SWITCH_FLAG, flagContext) && (await service.available(user.id)));
    const defaultNamespace = once(() => service.duoDefaultNamespace(user.id));
    const fullNames = new ReadOnce<string, string>();
    const projectsById = new ReadOnce<number, Project | undefined>();
    const projectsByPath = new ReadOnce<string, Project | undefined>();
    const duoEnabled = new ReadOnce<number, boolean>();

    const presentNamespace = (namespace: Namespace) => ({
      id: namespaceGid(namespace),
      fullName: () => fullNames.get(namespaceGid(namespace), () => service.namespaceFullName(namespace)),
      fullPath: namespace.fullPath,
    });
    // gatehouse has no per-project Duo switch: the namespace switches `POST /code_suggestions/enabled` obeys stand in for it.
    const presentProject = (project: Project) => ({
      id: projectGid(project.id),
      duoFeaturesEnabled: () => duoEnabled.get(project.id, () => service.enabledInProject(project)),
    });

    const projectsByIds = async (ids: readonly string[]) => {
      const wanted = new Set<number>();
      for (const gid of ids) {
        const match = GLOBAL_ID.exec(gid);
        if (!match) throw new GraphQLError(`${gid} is not a valid GitLab ID.`);
        if (match[1] !== 'Project') throw new GraphQLError(`${gid} is not a valid ID for Project.`);
        if (/^\d+$/.test(match[2])) wanted.add(Number(match[2]));
      }
      // GitLab's order: newest (highest id) first.
      const candidates = [...wanted].sort((a, b) => b - a);
      const unread = candidates.filter((id) => !projectsById.has(id)).length;
      if (projectsById.size + unread > MAX_PAGE_SIZE) throw new GraphQLError(TOO_MANY_PROJECT_IDS);
      const visible = await Promise.all(candidates.map((id) => projectsById.get(id, () => service.visibleProjectById(user, id))));
      return visible.filter((project): project is Project => project !== undefined).slice(0, MAX_PAGE_SIZE);
    };

    return {
      currentUser: () => ({
        id: `gid://gitlab/User/${user.id}`,
        username: user.username,
        name: user.name,
        // As the REST API's `web_url` (gatehouse keeps no avatars: `avatar_url` is null there too).
        webUrl: `${service.externalUrl}/${user.username}`,
        publicEmail: null,
        avatarUrl: null,
        bot: false,
        duoCodeSuggestionsAvailable: available,
        duoChatAvailable: false,
        duoChatAvailableFeatures: [],
        codeSuggestionsContexts: async () => (service.flags.isEnabled(CONTEXT_FLAG, flagContext) && (await available()) ? [...CONTEXT_TYPES] : []),
        userPreferences: () => ({
          duoDefaultNamespace: async () => {
            const namespace = await defaultNamespace();
            return namespace ? presentNamespace(namespace) : null;
          },
        }),
        ide: () => ({ codeSuggestionsEnabled: available }),
      }),
      featureFlagEnabled: ({ name }: { name: string }) => service.flags.isEnabled(name, flagContext),
      metadata: () => ({
        version: service.version,
        revision: this.revision,
        enterprise: true,
        // Only flags a manifest declares, as GitLab answers only for flags with a definition.
        featureFlags: ({ names }: { names: string[] }) => {
          if (names.length > MAX_FEATURE_FLAG_NAMES) throw new GraphQLError(TOO_MANY_FLAG_NAMES);
          return names.filter((name) => service.flags.isDeclared(name)).map((name) => ({ enabled: service.flags.isEnabled(name, flagContext), name }));
        },
      }),
      project: async ({ fullPath }: { fullPath: string }) => {
        const project = await projectsByPath.get(fullPath, () => service.visibleProject(user, fullPath));
        return project ? presentProject(project) : null;
      },
      projects: async ({ ids }: { ids?: string[] | null }) => {
        if (!ids) throw new GraphQLError(PROJECTS_NEED_IDS);
        const projects = (await projectsByIds(ids)).map(presentProject);
        return { edges: projects.map((node) => ({ node })), nodes: projects };
      },
    };
  }
}
