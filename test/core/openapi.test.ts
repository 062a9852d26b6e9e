import test from 'ava';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Validator } from '@seriousme/openapi-schema-validator';
import { z } from 'zod';
import { routesOf } from '../../core/plugins/loader.js';
import { openApiPaths, type OpenApiDocument } from '../../core/plugins/openapi.js';
import { registry } from '../../core/plugins/registry.js';
import { definePlugin, type AnyPluginManifest, type AuthStrategy } from '../../core/plugins/types.js';
import { p } from '../../core/http/validation.js';
import { PRODUCT_VERSION } from '../../core/version.js';
import { EXTERNAL_URL, backendName, startTestApp, type TestApp } from '../helpers/app.js';

const MAIN = fileURLToPath(new URL('../../core/main.ts', import.meta.url));
const CONFIG_DIR = fileURLToPath(new URL('../../config', import.meta.url));
const TSX = import.meta.resolve('tsx');

const CORE_OPERATIONS = ['core.health', 'core.readiness', 'core.metrics', 'core.jwks', 'core.jwks-alias', 'core.openid-configuration', 'core.openapi'];
const TOKEN_SECURITY = (scope?: string) => [{ private_token: scope ? [scope] : [] }, { bearer_token: scope ? [scope] : [] }];
const ERRORS = {
  400: { $ref: '#/components/responses/BadRequest' },
  401: { $ref: '#/components/responses/Unauthorized' },
  403: { $ref: '#/components/responses/Forbidden' },
  404: { $ref: '#/components/responses/NotFound' },
  429: { $ref: '#/components/responses/TooManyRequests' },
};
const SUCCESS = { '2XX': { description: 'Success.' } };
const SAFE_INTEGER = { type: 'integer', minimum: Number.MIN_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER };

let app: TestApp;
let served: OpenApiDocument;

test.before(async () => {
  app = await startTestApp({ config: { plugins: { 'code-suggestions': { completionsRateLimit: 17 } } } });
  served = (await app.request('/-/openapi.json')).body;
});
test.after.always(async () => {
  await app?.close();
});

async function validate(document: unknown) {
  return new Validator().validate(document as Record<string, unknown>);
}

function operationIds(document: OpenApiDocument) {
  return Object.values(document.paths).flatMap((operations) => Object.values(operations).map((operation) => operation.operationId));
}

const routeNames = (plugins: readonly AnyPluginManifest[]) =>
  plugins.flatMap((plugin) => routesOf(plugin, app.gateway.config.plugins[plugin.name]).map((r) => r.name));

test(`/-/openapi.json serves a valid OpenAPI 3.1 document, the one the gateway builds (${backendName})`, async (t) => {
  const response = await app.request('/-/openapi.json');
  t.is(response.status, 200);
  t.is(response.headers.get('content-type'), 'application/json');
  t.deepEqual(await validate(response.body), { valid: true });
  // The validator can fail: the same document with a Swagger 2 style body parameter is refused.
  const broken = structuredClone(response.body);
  broken.paths['/api/v4/users/{id}'].get.parameters = [{ name: 'id', in: 'body', schema: {} }];
  t.false((await validate(broken)).valid);
  t.deepEqual(response.body, JSON.parse(JSON.stringify(app.gateway.openapi)));
  t.is(response.body.openapi, '3.1.0');
  t.is(response.body.info.version, PRODUCT_VERSION.version);
  t.deepEqual(response.body.servers, [{ url: EXTERNAL_URL }]);
});

test('every enabled route is one operation, named after the route and tagged with its plugin', (t) => {
  t.deepEqual(operationIds(served).sort(), [...CORE_OPERATIONS, ...routeNames(registry)].sort());
  t.deepEqual(
    served.tags.map((tag) => tag.name),
    ['core', ...app.gateway.plugins.map((plugin) => plugin.name)],
  );
  for (const plugin of app.gateway.plugins) {
    for (const route of routesOf(plugin, app.gateway.config.plugins[plugin.name])) {
      const path = openApiPaths(route.path)[0].path;
      const operation = served.paths[path]?.[route.method.toLowerCase()];
      t.is(operation?.operationId, route.name, `${route.method} ${route.path}`);
      t.deepEqual(operation?.tags, [plugin.name]);
    }
  }
});

test('a token route lists both token schemes, once per scope, and its flag', (t) => {
  t.deepEqual(served.paths['/api/v4/code_suggestions/tokens'].post, {
    operationId: 'code-suggestions.tokens',
    tags: ['code-suggestions'],
    security: TOKEN_SECURITY('ai_features'),
    responses: { 400: ERRORS[400], 401: ERRORS[401], 403: ERRORS[403], 404: ERRORS[404], ...SUCCESS },
    'x-gatehouse-auth': { strategy: 'token', scopes: ['ai_features'] },
    'x-gatehouse-flag': 'code_suggestions_tokens_api',
  });
  const graphql = served.paths['/api/graphql'].post;
  t.deepEqual(graphql.security, [
    { private_token: ['read_api'] },
    { private_token: ['ai_features'] },
    { bearer_token: ['read_api'] },
    { bearer_token: ['ai_features'] },
  ]);
});

test('a rate-limited route states its limit, with max read from the plugin config', (t) => {
  const completions = served.paths['/api/v4/code_suggestions/completions'].post;
  t.deepEqual(completions['x-gatehouse-rate-limit'], { max: 17, windowMs: 60_000, by: 'user' });
  t.deepEqual(completions.responses['429'], ERRORS[429]);
  t.is(completions['x-gatehouse-flag'], 'ai_duo_code_suggestions_switch');
  const allowed = served.paths['/api/v4/internal/allowed'].post;
  t.deepEqual(allowed['x-gatehouse-rate-limit'], { max: 600, windowMs: 60_000, by: 'custom' });
  t.deepEqual(allowed.security, [{ gitlab_shell_jwt: [] }, { gitlab_shared_secret: [] }, { secret_token: [] }]);
});

test('public routes need no credentials and say why', (t) => {
  t.deepEqual(served.paths['/oauth/discovery/keys'].get, {
    operationId: 'core.jwks',
    summary: 'The public keys gatehouse signs its JWTs with (JWKS)',
    tags: ['core'],
    security: [],
    responses: { 200: { description: 'Success.' } },
    'x-gatehouse-auth': { strategy: 'none', reason: 'The JWKS is public: verifiers of gatehouse\'s tokens fetch it' },
  });
  t.deepEqual(served.paths['/-/openapi.json'].get, {
    operationId: 'core.openapi',
    summary: 'The OpenAPI 3.1 document of every enabled route',
    tags: ['core'],
    security: [],
    responses: { 200: { description: 'Success.' } },
    'x-gatehouse-auth': { strategy: 'none', reason: 'API description for clients and tooling; lists routes, never data' },
  });
});

test('path params are typed from the input; GET params go to the query, POST params to a JSON or form body', (t) => {
  const show = served.paths['/api/v4/projects/{id}/cluster_agents/{agent_id}'].get;
  t.deepEqual(show.parameters, [
    { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
    { name: 'agent_id', in: 'path', required: true, schema: SAFE_INTEGER },
  ]);
  t.deepEqual(show.security, TOKEN_SECURITY());

  const list = served.paths['/api/v4/personal_access_tokens'].get;
  t.deepEqual(list.parameters?.find((parameter) => parameter.name === 'state'), {
    name: 'state',
    in: 'query',
    required: false,
    schema: { type: 'string', enum: ['active', 'inactive'] },
  });
  t.deepEqual(list.parameters?.find((parameter) => parameter.name === 'created_before')?.schema, { type: 'string', format: 'date-time' });
  t.is(list.requestBody, undefined);

  const create = served.paths['/api/v4/users/{user_id}/impersonation_tokens'].post;
  t.deepEqual(create.parameters, [{ name: 'user_id', in: 'path', required: true, schema: SAFE_INTEGER }]);
  t.deepEqual(create['x-gatehouse-auth'], { strategy: 'admin' });
  const body = {
    type: 'object',
    properties: {
      name: { type: 'string' },
      description: { type: 'string' },
      expires_at: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' },
      scopes: { type: 'array', items: { type: 'string' } },
      granular_scopes: {},
    },
    required: ['name'],
  };
  t.deepEqual(create.requestBody, {
    required: true,
    content: { 'application/json': { schema: body }, 'application/x-www-form-urlencoded': { schema: body } },
  });
});

test('KAS routes need the KAS JWT together with the agent token', (t) => {
  t.deepEqual(served.paths['/api/v4/internal/kubernetes/agent_info'].get.security, [
    { kas_jwt: [], agent_token: [] },
    { kas_jwt: [], agent_token_bearer: [] },
  ]);
  t.deepEqual(served.components.securitySchemes.kas_jwt, {
    type: 'apiKey',
    in: 'header',
    name: 'Gitlab-Kas-Api-Request',
    description: 'An HS256 JWT signed with the KAS secret, as the Kubernetes agent server sends it.',
  });
});

test('error responses are GitLab\'s bodies', (t) => {
  const example = (name: string) => (served.components.responses[name] as any).content['application/json'].example;
  t.deepEqual(example('Unauthorized'), { message: '401 Unauthorized' });
  t.deepEqual(example('Forbidden'), { message: '403 Forbidden' });
  t.deepEqual(example('NotFound'), { message: '404 Not Found' });
  t.deepEqual(example('TooManyRequests'), { message: { error: 'This endpoint has been requested too many times. Try again later.' } });
  t.deepEqual(example('BadRequest'), { error: 'name is missing' });
});

test('a disabled plugin leaves the document, with its routes, tag and security schemes', async (t) => {
  const without = await startTestApp({ config: { plugins: { 'kubernetes-agent': { enabled: false } } } });
  t.teardown(() => without.close());
  const document: OpenApiDocument = (await without.request('/-/openapi.json')).body;
  t.deepEqual(await validate(document), { valid: true });
  const agentRoutes = new Set(routeNames(registry.filter((plugin) => plugin.name === 'kubernetes-agent')));
  t.true(agentRoutes.size > 0);
  t.deepEqual(operationIds(document).sort(), operationIds(served).filter((id) => !agentRoutes.has(id)).sort());
  t.false(document.tags.some((tag) => tag.name === 'kubernetes-agent'));
  t.deepEqual(Object.keys(document.components.securitySchemes).sort(), [
    'bearer_token',
    'gitlab_shared_secret',
    'gitlab_shell_jwt',
    'private_token',
    'secret_token',
    'session_cookie',
  ]);
});

test('openapi.enabled false: /-/openapi.json is 404 and the document does not list it', async (t) => {
  const off = await startTestApp({ config: { openapi: { enabled: false } } });
  t.teardown(() => off.close());
  const response = await off.request('/-/openapi.json');
  t.is(response.status, 404);
  t.deepEqual(response.body, { error: '404 Not Found' });
  t.false(operationIds(off.gateway.openapi).includes('core.openapi'));
  t.true(operationIds(off.gateway.openapi).includes('core.health'));
});

/** A plugin as an operator would load one: its own strategy, optional path groups, types JSON Schema cannot say. */
const outsidePlugin = definePlugin({
  name: 'outside',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'A plugin from outside the tree.',
  config: z.object({ perMinute: z.number().default(5).describe('Requests per minute.') }),
  authStrategies: { outside_key: (): AuthStrategy => ({ authenticate: () => ({ kind: 'service', service: 'outside' }) }) },
  routes: [
    {
      name: 'outside.files',
      method: 'GET',
      path: '/outside/:"project id"/files/*filepath{.:format}',
      summary: 'A file of a project',
      description: 'Raw or formatted.',
      successStatus: 200,
      auth: { strategy: 'outside_key' },
      rateLimit: { max: (config: { perMinute: number }) => config.perMinute * 2, windowMs: 60_000, by: 'ip' },
      input: z.object({
        ref: p.string().describe('Branch or tag.'),
        at: p.datetime().optional(),
        shape: z.custom<string>((value) => typeof value === 'string').optional(),
        size: z.bigint().optional(),
        upper: z.string().transform((value) => value.toUpperCase()).optional(),
      }),
      handler(ctx) {
        ctx.body = {};
      },
    },
  ],
});

test('an outside plugin is described like a shipped one: optional groups, wildcards, unrepresentable types', async (t) => {
  const outside = await startTestApp({ registry: [...registry, outsidePlugin], config: { plugins: { outside: { perMinute: 4 } } } });
  t.teardown(() => outside.close());
  const document = outside.gateway.openapi;
  t.deepEqual(await validate(document), { valid: true });
  const expected = (operationId: string, withFormat: boolean) => ({
    operationId,
    summary: 'A file of a project',
    description: 'Raw or formatted.',
    tags: ['outside'],
    parameters: [
      { name: 'project id', in: 'path', required: true, schema: { type: 'string' } },
      { name: 'filepath', in: 'path', required: true, description: 'May contain `/`.', schema: { type: 'string' } },
      ...(withFormat ? [{ name: 'format', in: 'path', required: true, schema: { type: 'string' } }] : []),
      { name: 'ref', in: 'query', required: true, description: 'Branch or tag.', schema: { type: 'string' } },
      { name: 'at', in: 'query', required: false, schema: { type: 'string', format: 'date-time' } },
      { name: 'shape', in: 'query', required: false, schema: {} },
      { name: 'size', in: 'query', required: false, schema: {} },
      { name: 'upper', in: 'query', required: false, schema: { type: 'string' } },
    ],
    responses: { 200: { description: 'Success.' }, 401: ERRORS[401], 403: ERRORS[403], 404: ERRORS[404], 429: ERRORS[429], 400: ERRORS[400] },
    'x-gatehouse-auth': { strategy: 'outside_key' },
    'x-gatehouse-rate-limit': { max: 8, windowMs: 60_000, by: 'ip' },
  });
  t.deepEqual(document.paths['/outside/{project id}/files/{filepath}'].get, expected('outside.files', false) as never);
  t.deepEqual(document.paths['/outside/{project id}/files/{filepath}.{format}'].get, expected('outside.files--1', true) as never);
  t.deepEqual(document.tags.at(-1), { name: 'outside', description: 'A plugin from outside the tree.' });
});

test('an outside plugin\'s strategy that documents its credentials gets security requirements and its schemes', async (t) => {
  const documented = definePlugin({
    name: 'documented',
    version: '1.0.0',
    core: '^1.0.0',
    description: 'A plugin whose strategy says what it reads.',
    authStrategies: {
      signed_request: (): AuthStrategy => ({
        openapi: {
          schemes: {
            request_signature: { type: 'apiKey', in: 'header', name: 'X-Signature', description: 'HMAC of the request.' },
            request_key: { type: 'apiKey', in: 'header', name: 'X-Key-Id', description: 'Which key signed it.' },
            unused_scheme: { type: 'http', scheme: 'basic', description: 'Declared, never required: not in the document.' },
          },
          alternatives: [['request_key', 'request_signature']],
        },
        authenticate: () => ({ kind: 'service', service: 'documented' }),
      }),
    },
    routes: [{ name: 'documented.ping', method: 'GET', path: '/documented/ping', auth: { strategy: 'signed_request' }, handler: (ctx) => void (ctx.body = {}) }],
  });
  const app = await startTestApp({ registry: [...registry, documented] });
  t.teardown(() => app.close());
  const document = app.gateway.openapi;
  t.deepEqual(await validate(document), { valid: true });
  t.deepEqual(document.paths['/documented/ping'].get.security, [{ request_key: [], request_signature: [] }]);
  t.like(document.components.securitySchemes, {
    request_signature: { type: 'apiKey', in: 'header', name: 'X-Signature', description: 'HMAC of the request.' },
    request_key: { type: 'apiKey', in: 'header', name: 'X-Key-Id', description: 'Which key signed it.' },
  });
  t.false('unused_scheme' in document.components.securitySchemes);
});

test('route paths: parameters, quoted names, wildcards, escapes and nested optional groups', (t) => {
  t.deepEqual(openApiPaths('/api/v4/users/:user_id/keys/:key_id'), [
    {
      path: '/api/v4/users/{user_id}/keys/{key_id}',
      params: [
        { name: 'user_id', wildcard: false },
        { name: 'key_id', wildcard: false },
      ],
    },
  ]);
  t.deepEqual(
    openApiPaths('/a\\:b/:x{/c{/:y}}').map((variant) => variant.path),
    ['/a:b/{x}', '/a:b/{x}/c', '/a:b/{x}/c/{y}'],
  );
  t.throws(() => openApiPaths('/a/{b'), { message: 'unterminated { in /a/{b' });
  t.throws(() => openApiPaths('/a/:/b'), { message: 'parameter without a name in /a/:/b' });
});

test('gatehouse openapi prints the document without touching the data directory', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'gatehouse-openapi-'));
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }));
  cpSync(CONFIG_DIR, join(cwd, 'config'), { recursive: true });
  const dataDir = join(cwd, 'state');
  const child = spawn(process.execPath, ['--conditions=development', '--import', TSX, MAIN, 'openapi'], {
    cwd,
    env: { PATH: process.env.PATH ?? '', GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_PLUGINS__SUBSCRIPTIONS__ENABLED: 'false' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((done) => child.once('exit', done));
  t.is(code, 0, stderr);
  const document: OpenApiDocument = JSON.parse(stdout);
  t.deepEqual(await validate(document), { valid: true });
  t.deepEqual(document.servers, [{ url: 'http://127.0.0.1:3000' }]);
  const subscriptions = new Set(routeNames(registry.filter((plugin) => plugin.name === 'subscriptions')));
  t.deepEqual(operationIds(document).sort(), operationIds(served).filter((id) => !subscriptions.has(id)).sort());
  t.false(existsSync(dataDir));
});
