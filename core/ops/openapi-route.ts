import type { RouteDefinition } from '../plugins/types.js';

export const OPENAPI_PATH = '/-/openapi.json';

/**
 * `GET /-/openapi.json`: the OpenAPI document, serialised once, on first request. Public, as GitLab publishes its
 * own API description: it lists routes and what they need, never data.
 */
export function openapiRoute(documentJson: () => string): RouteDefinition<unknown> {
  return {
    name: 'core.openapi',
    method: 'GET',
    path: OPENAPI_PATH,
    summary: 'The OpenAPI 3.1 document of every enabled route',
    successStatus: 200,
    auth: { strategy: 'none', reason: 'API description for clients and tooling; lists routes, never data' },
    handler(ctx) {
      ctx.type = 'application/json';
      ctx.body = documentJson();
    },
  };
}
