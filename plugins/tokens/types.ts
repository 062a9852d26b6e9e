import type { PluginServices, Principal, PrincipalCredential } from 'gatehouse';
import type { AccessToken } from './repository.js';

/** The directory's user, as its exported services return it (typed through PluginServices, not imports). */
export type User = NonNullable<Awaited<ReturnType<PluginServices['directory']['users']['findById']>>>;
export type DirectoryServices = PluginServices['directory'];

/** A token resolved with its user: everything authentication needs without touching the database. */
export interface ResolvedToken {
  token: AccessToken;
  user: User;
  /** The request principal for this token without `Sudo`, built on first use. */
  principal?: Principal;
}

/** What a bearer token resolver answers: a user with the token's scopes and credential, or why not. */
export type BearerResolution =
  | { problem: 'unknown' }
  | { problem: 'expired' }
  | { problem: 'revoked' }
  | { problem?: undefined; user: User; scopes: readonly string[]; credential: PrincipalCredential };

/**
 * Bearer tokens of another kind than personal access tokens (the OAuth provider's access tokens). The
 * `token` strategy asks it first for a token sent as `Authorization: Bearer` or `access_token` (GitLab
 * tries OAuth before PATs); an unknown token is then tried as a personal access token.
 */
export interface BearerTokenResolver {
  resolve(presented: string): BearerResolution | Promise<BearerResolution>;
}
