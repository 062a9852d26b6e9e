import type { GraphQLSchema } from 'graphql';
import type { Logger } from 'pino';
import type { PrincipalUser } from '../../core/plugins/types.js';
import type { CodeSuggestionsService } from './service.js';

/**
 * The part of GitLab's GraphQL schema the GitLab Language Server queries when it starts (clients.md
 * §1 row 4): whether Code Suggestions (and Chat) are available to the current user, instance feature
 * flags, the user itself and the instance metadata. Names and types are GitLab's.
 */
const SDL = /* GraphQL */ `
  type Query {
    "The user the request is authenticated as."
    currentUser: CurrentUser
    "Whether an instance feature flag is enabled (for the current user)."
    featureFlagEnabled(name: String!): Boolean!
    "Several instance feature flags at once."
    featureFlagsEnabled(names: [String!]!): [FeatureFlagStatus!]!
    "Instance metadata."
    metadata: Metadata
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
    ide: Ide
  }

  type Ide {
    codeSuggestionsEnabled: Boolean!
  }

  type FeatureFlagStatus {
    name: String!
    enabled: Boolean!
  }

  type Metadata {
    version: String!
    revision: String!
    enterprise: Boolean!
  }
`;

export interface GraphqlRequest {
  query?: unknown;
  variables?: unknown;
  operationName?: unknown;
}

/** The flag that switches Code Suggestions off for everyone (GitLab's `ai_duo_code_suggestions_switch`). */
export const SWITCH_FLAG = 'ai_duo_code_suggestions_switch';

interface Engine {
  schema: GraphQLSchema;
  graphql: typeof import('graphql').graphql;
  GraphQLError: typeof import('graphql').GraphQLError;
}

/**
 * Runs the Language Server's queries against the tiny schema; unknown fields are GraphQL errors. The
 * `graphql` package is loaded (and the schema built) on the first query, not at boot.
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
    const service = this.service;
    const flagContext = { userId: String(user.id) };
    const available = async () => service.flags.isEnabled(SWITCH_FLAG, flagContext) && (await service.available(user.id));
    const rootValue = {
      currentUser: () => ({
        id: `gid://gitlab/User/${user.id}`,
        username: user.username,
        name: user.name,
        webUrl: `${service.externalUrl}/${user.username}`,
        publicEmail: null,
        avatarUrl: null,
        bot: false,
        duoCodeSuggestionsAvailable: available,
        duoChatAvailable: false,
        ide: () => ({ codeSuggestionsEnabled: available }),
      }),
      featureFlagEnabled: ({ name }: { name: string }) => service.flags.isEnabled(name, flagContext),
      featureFlagsEnabled: ({ names }: { names: string[] }) => names.map((name) => ({ name, enabled: service.flags.isEnabled(name, flagContext) })),
      metadata: () => ({ version: service.version, revision: this.revision, enterprise: true }),
    };
    const { schema, graphql, GraphQLError } = await (this.engine ??= import('graphql').then((module) => ({
      schema: module.buildSchema(SDL),
      graphql: module.graphql,
      GraphQLError: module.GraphQLError,
    })));
    const result = await graphql({
      schema,
      source: request.query,
      rootValue,
      variableValues: (variables as Record<string, unknown> | null | undefined) ?? undefined,
      operationName: typeof request.operationName === 'string' ? request.operationName : undefined,
    });
    const errors = result.errors?.map((error) => {
      // A resolver's own failure (the database, say) is logged, never shown: the client gets a generic error.
      if (!error.originalError || error.originalError instanceof GraphQLError) return error.toJSON();
      this.logger.error({ err: error.originalError, requestId }, 'GraphQL resolver failed');
      return { message: 'Internal server error', locations: error.locations, path: error.path };
    });
    return { status: 200, body: JSON.parse(JSON.stringify(errors ? { ...result, errors } : result)) };
  }
}
