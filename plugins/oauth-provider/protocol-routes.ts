import { ApiError, routeFor, type GatehouseContext } from 'gatehouse';
import type { OauthProviderServices } from './services.js';
import { DESCRIPTIONS, InvalidOauthTokenError, OauthError } from './oauth-errors.js';
import { RevokeRefused, type TokenResolution } from './provider.js';
import { SUPPORTED_SCOPES } from './scopes.js';

const route = routeFor<OauthProviderServices>();
const CLIENT_AUTH = { strategy: 'none', reason: 'OAuth clients authenticate with their own credentials (RFC 6749 §2.3), checked by the handler' } as const;
const TOKEN_AUTH = { strategy: 'none', reason: 'The handler checks the OAuth access token and answers with Doorkeeper\'s invalid_token errors' } as const;

const NO_STORE = { 'Cache-Control': 'no-store, no-cache', Pragma: 'no-cache' };

/** GitLab allows any origin on the endpoints browser-based clients call (`config/application.rb`). */
function allowAnyOrigin(ctx: GatehouseContext, methods: string, headers: string) {
  ctx.set('Access-Control-Allow-Origin', '*');
  ctx.set('Access-Control-Allow-Methods', methods);
  ctx.set('Access-Control-Allow-Headers', headers);
}

/** The access token a request presents: `Authorization: Bearer`, else `access_token` or `bearer_token`. */
export function presentedAccessToken(ctx: GatehouseContext): string | undefined {
  const bearer = /^Bearer\s+(.+)$/i.exec(ctx.get('Authorization'));
  if (bearer) return bearer[1].trim();
  for (const name of ['access_token', 'bearer_token']) {
    const value = ctx.state.params[name];
    if (typeof value === 'string' && value) return value;
  }
  return undefined;
}

/** The valid token of the request, or undefined. */
async function validToken(ctx: GatehouseContext, services: OauthProviderServices) {
  const presented = presentedAccessToken(ctx);
  if (!presented) return undefined;
  const resolution: TokenResolution = await services.provider.resolve(presented);
  if (resolution.problem !== undefined) return undefined;
  if (resolution.user && resolution.user.state === 'blocked') return undefined;
  return resolution;
}

const seconds = (date: Date) => Math.floor(date.getTime() / 1000);

export const protocolRoutes = [
  route({
    name: 'oauth-provider.token',
    method: 'POST',
    path: '/oauth/token',
    auth: CLIENT_AUTH,
    async handler(ctx, _input, { provider }) {
      allowAnyOrigin(ctx, 'POST, OPTIONS', 'Authorization, X-CSRF-Token, X-Requested-With');
      ctx.set(NO_STORE);
      ctx.body = await provider.token(ctx.state.params, ctx.get('Authorization') || undefined);
    },
  }),
  route({
    name: 'oauth-provider.revoke',
    method: 'POST',
    path: '/oauth/revoke',
    auth: CLIENT_AUTH,
    async handler(ctx, _input, { provider }) {
      allowAnyOrigin(ctx, 'POST, OPTIONS', 'Authorization, X-CSRF-Token, X-Requested-With');
      try {
        await provider.revoke(ctx.state.params, ctx.get('Authorization') || undefined);
      } catch (error) {
        if (!(error instanceof RevokeRefused)) throw error;
        throw new ApiError(403, { error: 'unauthorized_client', error_description: 'You are not authorized to revoke this token' });
      }
      ctx.body = {};
    },
  }),
  route({
    name: 'oauth-provider.token-info',
    method: 'GET',
    path: '/oauth/token/info',
    auth: TOKEN_AUTH,
    async handler(ctx, _input, services) {
      allowAnyOrigin(ctx, 'GET, HEAD, OPTIONS', 'Authorization, x-gitlab-language-server-version, user-agent');
      const resolved = await validToken(ctx, services);
      if (!resolved) throw new InvalidOauthTokenError();
      const { token, application } = resolved;
      const expiresIn = services.provider.expiresInSeconds(token);
      ctx.body = {
        resource_owner_id: token.userId,
        scope: token.scopes,
        expires_in: expiresIn,
        application: { uid: application.uid },
        created_at: seconds(token.createdAt),
        scopes: token.scopes,
        expires_in_seconds: expiresIn,
      };
    },
  }),
  route({
    name: 'oauth-provider.introspect',
    method: 'POST',
    path: '/oauth/introspect',
    auth: CLIENT_AUTH,
    async handler(ctx, _input, { provider }) {
      const authorization = ctx.get('Authorization');
      const params = ctx.state.params;
      // The caller: a client (Basic or body credentials), or a Bearer token of an application.
      let callerApplicationId: number;
      const bearer = /^Bearer\s+(.+)$/i.exec(authorization);
      if (bearer) {
        const resolution = await provider.resolve(bearer[1].trim());
        if (resolution.problem !== undefined) throw new OauthError('invalid_token', DESCRIPTIONS.invalid_token, 401);
        callerApplicationId = resolution.token.applicationId;
      } else {
        const credentials = provider.credentialsOf(authorization, params);
        if (!credentials.clientId) {
          throw new OauthError('invalid_request', 'Request need to be authorized. Required parameter for authorizing request is missing or invalid.');
        }
        const client = await provider.authenticateClient(credentials);
        if (!client) throw new OauthError('invalid_client');
        callerApplicationId = client.id;
      }
      const presented = typeof params.token === 'string' ? params.token : '';
      const resolution = presented ? await provider.resolve(presented) : ({ problem: 'unknown' } as const);
      if (resolution.problem !== undefined || resolution.token.applicationId !== callerApplicationId) {
        ctx.body = { active: false };
        return;
      }
      const { token, application } = resolution;
      ctx.body = {
        active: true,
        scope: token.scopes.join(' '),
        client_id: application.uid,
        token_type: 'Bearer',
        exp: token.expiresIn === null ? undefined : seconds(token.createdAt) + token.expiresIn,
        iat: seconds(token.createdAt),
      };
    },
  }),
  ...(['GET', 'POST'] as const).map((method) =>
    route({
      name: `oauth-provider.userinfo-${method.toLowerCase()}`,
      method,
      path: '/oauth/userinfo',
      auth: TOKEN_AUTH,
      async handler(ctx, _input, services) {
        allowAnyOrigin(ctx, 'GET, HEAD, POST, OPTIONS', 'Authorization');
        const resolved = await validToken(ctx, services);
        // Doorkeeper answers these with empty bodies.
        if (!resolved || !resolved.user) {
          ctx.status = 401;
          ctx.set('WWW-Authenticate', new InvalidOauthTokenError().headers['WWW-Authenticate']);
          ctx.body = '';
          return;
        }
        if (!resolved.token.scopes.includes('openid')) {
          ctx.status = 403;
          ctx.body = '';
          return;
        }
        ctx.body = await services.provider.userInfo(resolved.user, resolved.token.scopes);
      },
    }),
  ),
  route({
    name: 'oauth-provider.authorize-device',
    method: 'POST',
    path: '/oauth/authorize_device',
    auth: CLIENT_AUTH,
    async handler(ctx, _input, { provider }) {
      ctx.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
      ctx.body = await provider.authorizeDevice(ctx.state.params, ctx.get('Authorization') || undefined);
    },
  }),
  route({
    name: 'oauth-provider.authorization-server-metadata',
    method: 'GET',
    path: '/.well-known/oauth-authorization-server',
    auth: { strategy: 'none', reason: 'Authorization server metadata is public (RFC 8414)' },
    handler(ctx, _input, services) {
      ctx.set('Cache-Control', 'max-age=86400, public, must-revalidate, no-transform');
      ctx.body = discoveryDocument(services.externalUrl);
    },
  }),
];

/** The OpenID Connect discovery document (doorkeeper-openid_connect's field order, null fields dropped). */
export function discoveryDocument(issuer: string) {
  return {
    issuer,
    authorization_endpoint: `${issuer}/oauth/authorize`,
    token_endpoint: `${issuer}/oauth/token`,
    revocation_endpoint: `${issuer}/oauth/revoke`,
    introspection_endpoint: `${issuer}/oauth/introspect`,
    userinfo_endpoint: `${issuer}/oauth/userinfo`,
    jwks_uri: `${issuer}/oauth/discovery/keys`,
    scopes_supported: [...SUPPORTED_SCOPES],
    response_types_supported: ['code'],
    response_modes_supported: ['query', 'fragment', 'form_post'],
    grant_types_supported: ['authorization_code', 'client_credentials', 'device_code', 'refresh_token'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    claim_types_supported: ['normal'],
    claims_supported: [
      'iss', 'sub', 'aud', 'exp', 'iat', 'sub_legacy', 'name', 'nickname', 'preferred_username', 'given_name', 'family_name',
      'email', 'email_verified', 'website', 'profile', 'picture', 'groups', 'groups_direct',
      'https://gitlab.org/claims/groups/owner', 'https://gitlab.org/claims/groups/maintainer', 'https://gitlab.org/claims/groups/developer',
      'project_path', 'ci_config_ref_uri', 'ref_path', 'sha', 'environment', 'jti',
    ],
    code_challenge_methods_supported: ['plain', 'S256'],
    device_authorization_endpoint: `${issuer}/oauth/authorize_device`,
  };
}
