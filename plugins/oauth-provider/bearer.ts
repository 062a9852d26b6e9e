import type { PluginServices } from 'gatehouse';
import type { ProviderService, TokenResolution } from './provider.js';

type BearerTokenResolver = Parameters<PluginServices['tokens']['tokens']['useBearerResolver']>[0];
type BearerResolution = ReturnType<BearerTokenResolver['resolve']> extends infer R ? Awaited<R> : never;

/** Access tokens are 64 lowercase hex characters: anything else is not looked up as one. */
const ACCESS_TOKEN = /^[0-9a-f]{64}$/;
const UNKNOWN = Object.freeze({ problem: 'unknown' } as const);

function toBearer(resolution: TokenResolution): BearerResolution {
  if (resolution.problem === 'unknown') return UNKNOWN;
  if (resolution.problem === 'expired') return { problem: 'expired' };
  if (resolution.problem === 'revoked') return { problem: 'revoked' };
  // client_credentials tokens act for no user: the user API does not accept them.
  if (!resolution.user) return UNKNOWN;
  return {
    user: resolution.user,
    scopes: resolution.token.scopes,
    credential: { type: 'oauth_access_token', id: resolution.token.id, details: resolution },
  };
}

/** How the tokens plugin's `token` strategy resolves OAuth access tokens. */
export function bearerResolver(provider: ProviderService): BearerTokenResolver {
  return {
    resolve(presented) {
      if (!ACCESS_TOKEN.test(presented)) return UNKNOWN;
      const resolution = provider.resolve(presented);
      return resolution instanceof Promise ? resolution.then(toBearer) : toBearer(resolution);
    },
  };
}
