import { z } from 'zod';
import {
  ForbiddenError,
  NotFoundError,
  TooManyRequestsError,
  UnauthorizedError,
  ValidationError,
  type ApiError,
} from '../errors.js';
import type { AnyPluginManifest, AuthStrategy, HttpMethod, RateLimitSpec, RouteAuth, RouteDefinition, SecurityScheme, VersionInfo } from './types.js';

/**
 * The OpenAPI 3.1 document of a running gateway, derived from the manifests of its enabled plugins and
 * core's own routes: nothing in it is written by hand, so it cannot drift from what the gateway serves.
 */

/** A JSON Schema (2020-12, OpenAPI 3.1's dialect) as zod emits it. */
type JsonSchema = Record<string, unknown>;

/** The parts of an OpenAPI 3.1 document this module writes. */
export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  servers: Array<{ url: string }>;
  tags: Array<{ name: string; description?: string }>;
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: {
    securitySchemes: Record<string, SecurityScheme>;
    schemas: Record<string, JsonSchema>;
    responses: Record<string, unknown>;
  };
}

export interface OpenApiOperation {
  operationId: string;
  summary?: string;
  description?: string;
  tags: string[];
  parameters?: OpenApiParameter[];
  requestBody?: { required: boolean; content: Record<string, { schema: JsonSchema }> };
  /** Absent for a strategy this module does not know (an outside plugin's): `x-gatehouse-auth` names it. */
  security?: Array<Record<string, string[]>>;
  responses: Record<string, unknown>;
  'x-gatehouse-auth': RouteAuth;
  'x-gatehouse-flag'?: string;
  'x-gatehouse-rate-limit'?: { max: number; windowMs: number; by: 'user' | 'ip' | 'custom' };
}

export interface OpenApiParameter {
  name: string;
  in: 'path' | 'query';
  required: boolean;
  description?: string;
  schema: JsonSchema;
}

/** A route and the plugin that declared it (`core` for the gateway's own routes). */
export interface DescribedRoute {
  plugin: string;
  route: RouteDefinition<unknown, any>;
}

export interface OpenApiSource {
  /** The enabled plugins, for their tags' descriptions. */
  plugins: readonly AnyPluginManifest[];
  /** Every route the gateway serves: core's and the enabled plugins'. */
  routes: readonly DescribedRoute[];
  /** Each plugin's validated config slice: a rate limit's `max` may be a function of it. */
  pluginConfig: Readonly<Record<string, unknown>>;
  externalUrl: string;
  version: VersionInfo;
  /** The auth strategies by name: each documents the credentials it reads (`AuthStrategy.openapi`). */
  strategies: ReadonlyMap<string, Pick<AuthStrategy<any>, 'openapi'>>;
}

const CORE_TAG = { name: 'core', description: 'The gateway itself: health, readiness, metrics, this document.' };

/** An error's GitLab body as a response example: the same classes the error writer answers with. */
const exampleOf = (error: ApiError) => error.body;

const MESSAGE_SCHEMA: JsonSchema = {
  type: 'object',
  description: 'GitLab\'s error body: a message string, or a map of fields to messages for model errors.',
  properties: {
    message: {
      oneOf: [{ type: 'string' }, { type: 'object', additionalProperties: true }],
    },
  },
  required: ['message'],
};

const VALIDATION_ERROR_SCHEMA: JsonSchema = {
  type: 'object',
  description: 'Grape\'s parameter validation errors, in declaration order.',
  properties: { error: { type: 'string' } },
  required: ['error'],
};

const jsonResponse = (description: string, schema: string, example: unknown) => ({
  description,
  content: { 'application/json': { schema: { $ref: `#/components/schemas/${schema}` }, example } },
});

const ERROR_RESPONSES = {
  BadRequest: {
    description: 'Invalid parameters (`{"error":"name is missing"}`) or a malformed body (`{"message":"400 Bad request"}`).',
    content: {
      'application/json': {
        schema: { oneOf: [{ $ref: '#/components/schemas/ValidationError' }, { $ref: '#/components/schemas/Message' }] },
        example: exampleOf(new ValidationError(['name is missing'])),
      },
    },
  },
  Unauthorized: jsonResponse('Missing or invalid credentials.', 'Message', exampleOf(new UnauthorizedError())),
  Forbidden: jsonResponse('The credentials do not allow this (a scope, a role, a blocked user).', 'Message', exampleOf(new ForbiddenError())),
  NotFound: jsonResponse('No such resource, or the route is switched off by its feature flag.', 'Message', exampleOf(new NotFoundError())),
  TooManyRequests: {
    ...jsonResponse('Rate limited.', 'Message', exampleOf(new TooManyRequestsError(60))),
    headers: { 'Retry-After': { description: 'Seconds until the limit resets.', schema: { type: 'integer' } } },
  },
};

const refTo = (response: keyof typeof ERROR_RESPONSES) => ({ $ref: `#/components/responses/${response}` });

const BODY_METHODS: ReadonlySet<HttpMethod> = new Set(['POST', 'PUT', 'PATCH']);
const BODY_TYPES = ['application/json', 'application/x-www-form-urlencoded'];

/** One concrete path of a route: optional groups expanded, parameters in OpenAPI's `{name}` form. */
interface PathVariant {
  path: string;
  params: Array<{ name: string; wildcard: boolean }>;
}

type PathToken = { text: string } | { param: string; wildcard: boolean } | { group: PathToken[] };

const NAME_CHAR = /[\p{ID_Continue}$]/u;

/**
 * Parses @koa/router's path syntax (path-to-regexp 8): `:name`, `:"quoted name"`, `*wildcard`,
 * optional `{…}` groups (nestable) and `\` escapes.
 */
function parseRoutePath(path: string): PathToken[] {
  let at = 0;
  const readName = () => {
    if (path[at] === '"') {
      const end = path.indexOf('"', at + 1);
      if (end < 0) throw new Error(`unterminated quoted parameter name in ${path}`);
      const name = path.slice(at + 1, end);
      at = end + 1;
      return name;
    }
    const start = at;
    while (at < path.length && NAME_CHAR.test(path[at])) at += 1;
    if (at === start) throw new Error(`parameter without a name in ${path}`);
    return path.slice(start, at);
  };
  const readTokens = (closing: boolean): PathToken[] => {
    const tokens: PathToken[] = [];
    const pushText = (text: string) => {
      const last = tokens[tokens.length - 1];
      if (last && 'text' in last) last.text += text;
      else tokens.push({ text });
    };
    while (at < path.length) {
      const char = path[at];
      if (char === '\\') {
        pushText(path[at + 1] ?? '');
        at += 2;
      } else if (char === ':' || char === '*') {
        at += 1;
        tokens.push({ param: readName(), wildcard: char === '*' });
      } else if (char === '{') {
        at += 1;
        tokens.push({ group: readTokens(true) });
      } else if (char === '}') {
        if (!closing) throw new Error(`unbalanced } in ${path}`);
        at += 1;
        return tokens;
      } else {
        pushText(char);
        at += 1;
      }
    }
    if (closing) throw new Error(`unterminated { in ${path}`);
    return tokens;
  };
  return readTokens(false);
}

/** Every concrete path the tokens match: OpenAPI has no optional segments, so each group doubles them. */
function expandVariants(tokens: readonly PathToken[]): PathVariant[] {
  let variants: PathVariant[] = [{ path: '', params: [] }];
  for (const token of tokens) {
    if ('text' in token) variants = variants.map((v) => ({ ...v, path: v.path + token.text }));
    else if ('param' in token) {
      variants = variants.map((v) => ({ path: `${v.path}{${token.param}}`, params: [...v.params, { name: token.param, wildcard: token.wildcard }] }));
    } else {
      const inner = expandVariants(token.group);
      variants = variants.flatMap((v) => [v, ...inner.map((i) => ({ path: v.path + i.path, params: [...v.params, ...i.params] }))]);
    }
  }
  return variants;
}

/** `/users/:id` → `/users/{id}`; a path with optional groups gives one OpenAPI path per combination. */
export function openApiPaths(routePath: string): PathVariant[] {
  return expandVariants(parseRoutePath(routePath));
}

/**
 * zod → JSON Schema as the caller sends it (`io: 'input'`): preprocessed params (Grape's coercions)
 * show their target type, what JSON Schema cannot say (custom checks, transforms) becomes `{}`, and
 * dates, which arrive as strings, are described as RFC 3339 strings.
 */
function inputSchema(schema: z.ZodType): JsonSchema {
  const json = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
    override(ctx) {
      if (ctx.zodSchema._zod.def.type === 'date') Object.assign(ctx.jsonSchema, { type: 'string', format: 'date-time' });
    },
  }) as JsonSchema;
  delete json.$schema;
  return json;
}

/** An object schema's properties and required names; undefined for anything else (a union, `{}`). */
function objectShape(schema: JsonSchema): { properties: Record<string, JsonSchema>; required: string[] } | undefined {
  if (schema.type !== 'object' || typeof schema.properties !== 'object' || schema.properties === null) return undefined;
  return { properties: schema.properties as Record<string, JsonSchema>, required: (schema.required as string[] | undefined) ?? [] };
}

/** A parameter from a property; its description moves up to the parameter, where tools show it. */
function parameterFrom(name: string, location: 'path' | 'query', schema: JsonSchema | undefined, required: boolean): OpenApiParameter {
  const { description, ...rest } = schema ?? { type: 'string' };
  return {
    name,
    in: location,
    required,
    ...(typeof description === 'string' ? { description } : {}),
    schema: rest,
  };
}

/** The schema minus the path parameters: what remains travels in the query string or the body. */
function withoutPathParams(schema: JsonSchema, pathParams: ReadonlySet<string>): JsonSchema {
  const shape = objectShape(schema);
  if (!shape) return schema;
  const properties = Object.fromEntries(Object.entries(shape.properties).filter(([name]) => !pathParams.has(name)));
  const required = shape.required.filter((name) => !pathParams.has(name));
  const { required: _required, ...rest } = schema;
  return { ...rest, properties, ...(required.length ? { required } : {}) };
}

/**
 * Path parameters (typed from `input` when it names them), then the other params: the query string of
 * a GET or DELETE, or the JSON / form body of a POST, PUT or PATCH.
 */
function requestOf(route: RouteDefinition<unknown, any>, variant: PathVariant): Pick<OpenApiOperation, 'parameters' | 'requestBody'> {
  const schema = route.input ? inputSchema(route.input) : undefined;
  const shape = schema ? objectShape(schema) : undefined;
  const parameters: OpenApiParameter[] = variant.params.map(({ name, wildcard }) => {
    const parameter = parameterFrom(name, 'path', shape?.properties[name], true);
    return wildcard ? { ...parameter, description: parameter.description ?? 'May contain `/`.' } : parameter;
  });
  if (!schema) return parameters.length ? { parameters } : {};

  const pathNames = new Set(variant.params.map((param) => param.name));
  const rest = withoutPathParams(schema, pathNames);
  if (BODY_METHODS.has(route.method)) {
    const required = (objectShape(rest)?.required.length ?? 0) > 0;
    const content = Object.fromEntries(BODY_TYPES.map((type) => [type, { schema: rest }]));
    return { ...(parameters.length ? { parameters } : {}), requestBody: { required, content } };
  }
  const restShape = objectShape(rest);
  if (restShape) {
    for (const [name, property] of Object.entries(restShape.properties)) {
      parameters.push(parameterFrom(name, 'query', property, restShape.required.includes(name)));
    }
  }
  return parameters.length ? { parameters } : {};
}

/**
 * Security requirements: one alternative per accepted credential; with scopes, one per scope, since a
 * token carrying any one of a route's scopes is accepted. Public routes need nothing (`[]`).
 */
function securityOf(auth: RouteAuth, strategies: OpenApiSource['strategies']): Array<Record<string, string[]>> | undefined {
  if (auth.strategy === 'none') return [];
  const alternatives = strategies.get(auth.strategy)?.openapi?.alternatives;
  if (!alternatives) return undefined;
  const scopes = 'scopes' in auth && auth.scopes?.length ? auth.scopes : undefined;
  return alternatives.flatMap((schemes) =>
    (scopes ?? [undefined]).map((scope) => Object.fromEntries(schemes.map((scheme) => [scheme, scope ? [scope] : []]))),
  );
}

/** A rate limit as the gateway enforces it: `max` read from the plugin's config, as at boot. */
function rateLimitOf(spec: RateLimitSpec, pluginConfig: unknown): NonNullable<OpenApiOperation['x-gatehouse-rate-limit']> {
  const max = typeof spec.max === 'function' ? spec.max(pluginConfig) : spec.max;
  return { max, windowMs: spec.windowMs, by: typeof spec.by === 'function' ? 'custom' : spec.by };
}

function responsesOf(route: RouteDefinition<unknown, any>, variant: PathVariant): Record<string, unknown> {
  const success = route.successStatus ? String(route.successStatus) : '2XX';
  const responses: Record<string, unknown> = { [success]: { description: 'Success.' } };
  if (route.input || BODY_METHODS.has(route.method)) responses['400'] = refTo('BadRequest');
  if (route.auth.strategy !== 'none') {
    responses['401'] = refTo('Unauthorized');
    responses['403'] = refTo('Forbidden');
  }
  if (route.flag || variant.params.length) responses['404'] = refTo('NotFound');
  if (route.rateLimit) responses['429'] = refTo('TooManyRequests');
  return responses;
}

/** `{ [key]: value }` when there is a value: absent keys rather than `undefined` ones in the JSON. */
const optional = <K extends string, V>(key: K, value: V | undefined) => (value === undefined ? {} : ({ [key]: value } as Record<K, V>));

function operationOf(described: DescribedRoute, variant: PathVariant, operationId: string, source: OpenApiSource): OpenApiOperation {
  const { plugin, route } = described;
  return {
    operationId,
    ...optional('summary', route.summary),
    ...optional('description', route.description),
    tags: [plugin],
    ...requestOf(route, variant),
    ...optional('security', securityOf(route.auth, source.strategies)),
    responses: responsesOf(route, variant),
    'x-gatehouse-auth': route.auth,
    ...optional('x-gatehouse-flag', route.flag),
    ...optional('x-gatehouse-rate-limit', route.rateLimit && rateLimitOf(route.rateLimit, source.pluginConfig[plugin])),
  };
}

/**
 * The schemes some operation uses, as the strategies define them: a document without the
 * kubernetes-agent plugin names no KAS JWT. Strategies of one plugin share scheme names (`token` and
 * `admin` both read `private_token`); the first definition of a name is the one shown.
 */
function usedSchemes(paths: OpenApiDocument['paths'], strategies: OpenApiSource['strategies']): Record<string, SecurityScheme> {
  const used = new Set<string>();
  for (const operations of Object.values(paths)) {
    for (const operation of Object.values(operations)) for (const requirement of operation.security ?? []) for (const name in requirement) used.add(name);
  }
  const schemes: Record<string, SecurityScheme> = {};
  for (const strategy of strategies.values()) {
    for (const [name, scheme] of Object.entries(strategy.openapi?.schemes ?? {})) if (used.has(name)) schemes[name] ??= scheme;
  }
  return schemes;
}

/** Builds the document. Throws only on a route path the router itself would refuse. */
export function buildOpenApiDocument(source: OpenApiSource): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  for (const described of source.routes) {
    const variants = openApiPaths(described.route.path);
    variants.forEach((variant, index) => {
      // Each expansion of an optional group is its own operation; ids stay unique.
      const operationId = index === 0 ? described.route.name : `${described.route.name}--${index}`;
      (paths[variant.path] ??= {})[described.route.method.toLowerCase()] = operationOf(described, variant, operationId, source);
    });
  }
  const pluginTags = source.plugins.map((plugin) => ({ name: plugin.name, description: plugin.description }));
  return {
    openapi: '3.1.0',
    info: {
      title: 'gatehouse',
      version: source.version.version,
      description:
        'GitLab-compatible API served by gatehouse, generated from the manifests of the enabled plugins. ' +
        '`x-gatehouse-auth` is the route\'s auth strategy and scopes (a token needs one of them), ' +
        '`x-gatehouse-flag` the feature flag that must be on, `x-gatehouse-rate-limit` the limit per window.',
    },
    servers: [{ url: source.externalUrl }],
    tags: [CORE_TAG, ...pluginTags],
    paths,
    components: {
      securitySchemes: usedSchemes(paths, source.strategies),
      schemas: { Message: MESSAGE_SCHEMA, ValidationError: VALIDATION_ERROR_SCHEMA },
      responses: ERROR_RESPONSES,
    },
  };
}
