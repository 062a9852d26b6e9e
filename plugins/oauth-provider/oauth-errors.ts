import { ApiError } from 'gatehouse';

/** Doorkeeper's realm in `WWW-Authenticate` (GitLab does not set one). */
export const DOORKEEPER_REALM = 'Doorkeeper';

/** Doorkeeper's error texts as GitLab's locale has them (reference oauth.md §2–§6). */
export const DESCRIPTIONS = {
  invalid_request: 'The request is missing a required parameter, includes an unsupported parameter value, or is otherwise malformed.',
  invalid_client:
    'Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.',
  invalid_redirect_uri: 'The redirect URI included is not valid.',
  unsupported_response_type: 'The authorization server does not support this response type.',
  invalid_scope: 'The requested scope is invalid, unknown, or malformed.',
  invalid_code_challenge_method: 'The code_challenge_method must be one of plain, S256.',
  invalid_grant:
    'The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.',
  unauthorized_client: 'The client is not authorized to perform this request using this method.',
  access_denied: 'The resource owner or authorization server denied the request.',
  unsupported_grant_type: 'The authorization grant type is not supported by the authorization server.',
  // The device flow's errors have no locale entry: Doorkeeper falls back to the server_error text.
  server_error: 'The authorization server encountered an unexpected condition which prevented it from fulfilling the request.',
  invalid_token: 'The access token is invalid',
} as const;

export const missingParameter = (name: string) => `Missing required parameter: ${name}.`;

/** Errors a client may be redirected back with (RFC 6749 §4.1.2.1); the others are answered in place. */
const NOT_REDIRECTABLE = new Set(['invalid_redirect_uri', 'invalid_client', 'unauthorized_client']);

/** An OAuth protocol error: `{"error","error_description"}`, 401 for client errors, 400 otherwise. */
export class OauthError extends ApiError {
  constructor(
    readonly code: string,
    readonly description: string = (DESCRIPTIONS as Record<string, string>)[code] ?? DESCRIPTIONS.server_error,
    status?: number,
  ) {
    const resolved = status ?? (code === 'invalid_client' || code === 'unauthorized_client' ? 401 : 400);
    super(
      resolved,
      { error: code, error_description: description },
      {
        'WWW-Authenticate': `Bearer realm="${DOORKEEPER_REALM}", error="${code}", error_description="${description}"`,
        'Cache-Control': 'no-store, no-cache',
      },
    );
  }

  /** Whether the client may be sent back to its redirect URI with this error. */
  get redirectable(): boolean {
    if (NOT_REDIRECTABLE.has(this.code)) return false;
    return !(this.code === 'invalid_request' && this.description === missingParameter('client_id'));
  }
}

/** `/oauth/token/info` and the userinfo endpoint: a missing, unknown, expired or revoked token. */
export class InvalidOauthTokenError extends ApiError {
  constructor() {
    super(
      401,
      { error: 'invalid_token', error_description: DESCRIPTIONS.invalid_token, state: 'unauthorized' },
      { 'WWW-Authenticate': `Bearer realm="${DOORKEEPER_REALM}", error="invalid_token", error_description="${DESCRIPTIONS.invalid_token}"` },
    );
  }
}
