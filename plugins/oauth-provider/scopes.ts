/** What each scope grants, as GitLab's consent page words it (`config/locales/doorkeeper.en.yml`). */
const DESCRIPTIONS: Record<string, string> = {
  api: 'Grants complete read/write access to the API, including all groups and projects, the container registry, the dependency proxy, and the package registry.',
  read_api: 'Grants read access to the API, including all groups and projects, the container registry, and the package registry.',
  read_user:
    'Grants read-only access to your profile through the /user API endpoint, which includes username, public email, and full name. Also grants access to read-only API endpoints under /users.',
  create_runner: 'Grants create access to the runners.',
  manage_runner: 'Grants access to manage the runners.',
  k8s_proxy: 'Grants permission to perform Kubernetes API calls using the agent for Kubernetes.',
  self_rotate: 'Grants permission to rotate this token using the personal access token API.',
  mcp: 'Grants access to the GitLab MCP server.',
  mcp_orbit: 'Grants access to the GitLab Orbit MCP server.',
  read_repository: 'Grants read-only access to repositories on private projects using Git-over-HTTP or the Repository Files API.',
  write_repository: 'Grants read-write access to repositories on private projects using Git-over-HTTP (not using the API).',
  read_registry: 'Grants read-only access to container registry images on private projects.',
  write_registry: 'Grants write access to container registry images on private projects. You need both read and write access to push images.',
  read_virtual_registry: 'Grants read-only access to container images through a dependency proxy.',
  write_virtual_registry: 'Grants read, write, and delete access to container images through a dependency proxy.',
  read_observability: 'Grants read-only access to GitLab Observability.',
  write_observability: 'Grants write access to GitLab Observability.',
  ai_features: 'Grants access to GitLab Duo related API endpoints.',
  ai_workflows: 'Grants access to GitLab Duo Workflow API endpoints.',
  sudo: 'Grants permission to perform API actions as any user in the system, when authenticated as an admin user.',
  admin_mode: 'Grants permission to perform API actions as an administrator, when Admin Mode is enabled.',
  read_service_ping: 'Grant access to download Service Ping payload via API when authenticated as an admin user.',
  openid: "Grants permission to authenticate with GitLab using OpenID Connect. Also gives read-only access to the user's profile and group memberships.",
  profile: "Grants read-only access to the user's profile data using OpenID Connect.",
  email: "Grants read-only access to the user's primary email address using OpenID Connect.",
};

export const describeScope = (scope: string) => DESCRIPTIONS[scope] ?? 'Grants access to the resources this scope names.';

/** Every scope an OAuth application may use (reference oauth.md §1.1), for discovery. */
export const SUPPORTED_SCOPES = [
  'api', 'read_api', 'read_user', 'create_runner', 'manage_runner', 'k8s_proxy', 'self_rotate', 'mcp', 'mcp_orbit',
  'read_repository', 'write_repository', 'read_registry', 'write_registry', 'read_virtual_registry', 'write_virtual_registry',
  'read_observability', 'write_observability', 'ai_features', 'sudo', 'admin_mode', 'read_service_ping', 'openid', 'profile',
  'email', 'ai_workflows', 'user:*',
] as const;

/** Doorkeeper's default scope: used when a request names none and the application allows it. */
export const DEFAULT_SCOPE = 'api';
