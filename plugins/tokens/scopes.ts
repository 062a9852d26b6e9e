/** Every scope a personal access token can carry (GitLab's `all_available_scopes`). */
export const ALL_SCOPES = [
  'api',
  'read_api',
  'read_user',
  'create_runner',
  'manage_runner',
  'k8s_proxy',
  'self_rotate',
  'mcp',
  'mcp_orbit',
  'read_repository',
  'write_repository',
  'read_registry',
  'write_registry',
  'read_virtual_registry',
  'write_virtual_registry',
  'read_observability',
  'write_observability',
  'ai_features',
  'sudo',
  'admin_mode',
  'read_service_ping',
] as const;

export type Scope = (typeof ALL_SCOPES)[number];

/** The only scopes a user may give a token they create for themselves (`POST /user/personal_access_tokens`). */
export const SELF_SERVICE_SCOPES = ['k8s_proxy', 'self_rotate'] as const;

/** A route that accepts any scope (e.g. `/personal_access_tokens/self`). */
export const ANY_SCOPE = '*';
