import { z, ForbiddenError, NotFoundError, PayloadTooLargeError, callerOf, created, p, routeFor } from 'gatehouse';
import { CompletionsInputSchema, type CompletionsInput } from './completions-input.js';
import { SWITCH_FLAG, type GraphqlRequest } from './graphql.js';
import { CONTEXT_FLAG } from './service.js';
import { AiGatewayUpstream } from './proxy.js';
import { presentAccessToken, presentConnectionDetails, presentDirectAccess } from './presenter.js';
import type { CodeSuggestionsServices } from './services.js';

const route = routeFor<CodeSuggestionsServices>();

/** Code Suggestions accepts `api` or `ai_features` tokens; `read_api` is refused (trap 11). */
const AI_SCOPES = ['ai_features'] as const;
/** Marks gatehouse's own errors so clients tell them from the AI gateway's (reference §5.1, trap 12). */
const MONOLITH = Object.freeze({ 'X-GitLab-Error-Origin': 'monolith' });
export const DIRECT_CONNECTIONS_DISABLED = 'Direct connections are disabled';
/** The AI gateway's endpoints for the two intents (`ee/lib/code_suggestions/tasks/*.rb`). */
const COMPLETIONS_PATH = '/v2/code/completions';
const GENERATIONS_PATH = '/v2/code/generations';
/** GitLab trims the file around the cursor before forwarding it. */
const CONTEXT_CHARS = 100_000;
/** GitLab throttles authenticated API requests, GraphQL's among them, per hour. */
const GRAPHQL_RATE_WINDOW_MS = 60 * 60_000;
/** Keys of a client's body that never go upstream: its credentials. */
const CREDENTIAL_KEYS = ['private_token', 'access_token'] as const;

/**
 * The body sent to the AI gateway: the client's own (unknown keys included, as GitLab passes them
 * on), minus credentials, minus `context`/`user_instruction` unless that flag is on, the file
 * trimmed around the cursor, `stream` as a boolean, and `prompt_version` added. The parsed request
 * body is this request's own object and read by nobody after this, so it is changed in place.
 */
function forwardedBody(body: Record<string, unknown>, input: CompletionsInput, contextAllowed: boolean): string {
  for (const key of CREDENTIAL_KEYS) delete body[key];
  if (!contextAllowed) {
    delete body.context;
    delete body.user_instruction;
  }
  if ('stream' in body) body.stream = input.stream;
  const file = input.current_file;
  const above = file.content_above_cursor;
  const below = file.content_below_cursor;
  if (above.length > CONTEXT_CHARS || (below !== undefined && below.length > CONTEXT_CHARS)) {
    body.current_file = {
      ...file,
      content_above_cursor: above.slice(-CONTEXT_CHARS),
      ...(below === undefined ? {} : { content_below_cursor: below.slice(0, CONTEXT_CHARS) }),
    };
  }
  body.prompt_version = 1;
  return JSON.stringify(body);
}

/**
 * A new headers object holding the user's identity headers, copied one by one. Why not
 * `{ ...identity, … }`: with that spread, the frameworkless proxy of bench/bare-proxy.ts cost 16 µs
 * more main-thread CPU per request (96 against 80 µs, five side-by-side rounds) and three times the
 * GC threads' time, for the same nineteen headers.
 */
function upstreamHeaders(identity: Readonly<Record<string, string>>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name in identity) headers[name] = identity[name];
  return headers;
}

export const codeSuggestionsRoutes = [
  route({
    name: 'code-suggestions.tokens',
    method: 'POST',
    path: '/api/v4/code_suggestions/tokens',
    auth: { strategy: 'token', scopes: AI_SCOPES },
    flag: 'code_suggestions_tokens_api',
    errorHeaders: MONOLITH,
    async handler(ctx, _input, { service }) {
      const user = callerOf(ctx);
      await service.requireAccess(user);
      created(ctx, presentAccessToken(await service.mintFor(user.id)));
    },
  }),
  route({
    name: 'code-suggestions.completions',
    method: 'POST',
    path: '/api/v4/code_suggestions/completions',
    auth: { strategy: 'token', scopes: AI_SCOPES },
    flag: SWITCH_FLAG,
    rateLimit: { max: (config) => config.completionsRateLimit, windowMs: 60_000, by: 'user' },
    errorHeaders: MONOLITH,
    input: CompletionsInputSchema,
    async handler(ctx, input, { service, upstream }) {
      const user = callerOf(ctx);
      const namespaceIds = await service.requireAccess(user);
      const credential = await service.upstreamCredential(user.id);
      const raw = (ctx.request as { body?: Record<string, unknown> }).body ?? {};
      const contextAllowed = service.flags.isEnabled(CONTEXT_FLAG, { userId: String(user.id) });
      const body = forwardedBody(raw, input, contextAllowed);
      // Cheap bound first: a UTF-8 byte is at most 3 per UTF-16 unit here, so short bodies skip the count.
      if (body.length * 3 > service.config.maxBodyBytes && Buffer.byteLength(body) > service.config.maxBodyBytes) throw new PayloadTooLargeError();
      const generation = input.intent === 'generation';
      const headers = upstreamHeaders(credential.headers);
      headers['content-type'] = 'application/json';
      headers['x-request-id'] = ctx.state.requestId;
      headers['x-gitlab-unit-primitive'] = generation ? 'generate_code' : 'complete_code';
      headers['x-gitlab-feature-enabled-by-namespace-ids'] = namespaceIds.join(',');
      // The flags the AI gateway is told about are exactly the one checked above.
      headers['x-gitlab-enabled-feature-flags'] = contextAllowed ? CONTEXT_FLAG : '';
      AiGatewayUpstream.forwardedHeaders(ctx, headers);
      await upstream.relay(ctx, generation ? GENERATIONS_PATH : COMPLETIONS_PATH, headers, body, input.stream);
    },
  }),
  route({
    name: 'code-suggestions.enabled',
    method: 'POST',
    path: '/api/v4/code_suggestions/enabled',
    auth: { strategy: 'token', scopes: AI_SCOPES },
    flag: SWITCH_FLAG,
    errorHeaders: MONOLITH,
    input: z.object({ project_path: p.string() }),
    async handler(ctx, input, { service }) {
      const user = callerOf(ctx);
      await service.requireAccess(user);
      const project = await service.visibleProject(user, input.project_path);
      if (!project) throw new NotFoundError();
      if (!(await service.enabledInProject(project))) throw new ForbiddenError();
      ctx.status = 200;
      // Grape answers with the value of `status 200`.
      ctx.body = 200;
    },
  }),
  route({
    name: 'code-suggestions.direct-access',
    method: 'POST',
    path: '/api/v4/code_suggestions/direct_access',
    auth: { strategy: 'token', scopes: AI_SCOPES },
    flag: SWITCH_FLAG,
    // GitLab refuses with "Direct connections are disabled" before it counts a request: with direct
    // connections off the limit is set out of reach, so that answer never turns into a 429.
    rateLimit: {
      max: (config) => (config.directConnections.enabled ? config.directAccessRateLimit : Number.MAX_SAFE_INTEGER),
      windowMs: 5 * 60_000,
      by: 'user',
    },
    errorHeaders: MONOLITH,
    // `project_path`, or the Language Server's camelCase `projectPath` usage-quota probe; both optional.
    input: z.looseObject({ project_path: p.string().optional(), projectPath: p.string().optional() }),
    async handler(ctx, _input, { service }) {
      const direct = service.config.directConnections;
      if (!direct.enabled) throw new ForbiddenError(DIRECT_CONNECTIONS_DISABLED);
      const user = callerOf(ctx);
      const namespaceIds = await service.requireAccess(user);
      const minted = await service.mintFor(user.id);
      const headers = {
        ...service.identityHeaders(user.id),
        'x-gitlab-enabled-feature-flags': service.enabledFlags(user.id),
        'x-gitlab-feature-enabled-by-namespace-ids': namespaceIds.join(','),
        'x-gitlab-unit-primitive': 'complete_code',
      };
      const model = direct.modelProvider && direct.modelName ? { model_provider: direct.modelProvider, model_name: direct.modelName } : undefined;
      created(ctx, presentDirectAccess(direct.baseUrl?.replace(/\/+$/, '') ?? service.config.aiGatewayUrl.replace(/\/+$/, ''), minted, headers, model));
    },
  }),
  route({
    name: 'code-suggestions.connection-details',
    method: 'POST',
    path: '/api/v4/code_suggestions/connection_details',
    auth: { strategy: 'token', scopes: AI_SCOPES },
    flag: SWITCH_FLAG,
    rateLimit: { max: (config) => config.connectionDetailsRateLimit, windowMs: 60_000, by: 'user' },
    errorHeaders: MONOLITH,
    async handler(ctx, _input, { service }) {
      const user = callerOf(ctx);
      const namespaceIds = await service.requireAccess(user);
      created(ctx, presentConnectionDetails(service, user.id, namespaceIds));
    },
  }),
  route({
    name: 'code-suggestions.graphql',
    method: 'POST',
    path: '/api/graphql',
    // GraphQL queries read: `read_api` is enough, as in GitLab (this schema has no mutations).
    auth: { strategy: 'token', scopes: ['read_api', 'ai_features'] },
    rateLimit: { max: (config) => config.graphqlRateLimit, windowMs: GRAPHQL_RATE_WINDOW_MS, by: 'user' },
    async handler(ctx, _input, { graphql }) {
      const request = ((ctx.request as { body?: unknown }).body ?? {}) as GraphqlRequest;
      const { status, body } = await graphql.execute(Array.isArray(request) ? {} : request, callerOf(ctx), ctx.state.requestId);
      ctx.status = status;
      ctx.body = body;
    },
  }),
];
