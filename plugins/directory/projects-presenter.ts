import { iso, utcDay } from 'gatehouse';
import { presentUserBasic } from './presenter.js';
import type { Namespace } from './namespaces-repository.js';
import type { Project } from './projects-repository.js';
import type { Membership, ProjectDeployKey } from './projects-service.js';

/** GitLab's full name of a namespace chain: the names joined by ` / ` (`Parent / Child`). */
const fullName = (lineage: readonly Namespace[]) => lineage.map((ns) => ns.name).join(' / ');

/** Personal namespaces live at `/<username>`, groups at `/groups/<full path>` (GitLab's web routes). */
const namespaceWebUrl = (namespace: Namespace, externalUrl: string) =>
  namespace.kind === 'user' ? `${externalUrl}/${namespace.fullPath}` : `${externalUrl}/groups/${namespace.fullPath}`;

/** GitLab's `Group` entity (the subset gatehouse keeps). `lineage` is root first, ending with the group. */
export function presentGroup(group: Namespace, lineage: readonly Namespace[], externalUrl: string) {
  return {
    id: group.id,
    web_url: namespaceWebUrl(group, externalUrl),
    name: group.name,
    path: group.path,
    description: group.description,
    visibility: group.visibility,
    full_name: fullName(lineage),
    full_path: group.fullPath,
    parent_id: group.parentId,
    created_at: iso(group.createdAt),
    code_suggestions: group.codeSuggestions,
    marked_for_deletion_on: group.markedForDeletionAt ? utcDay(group.markedForDeletionAt) : null,
  };
}

/** GitLab's `NamespaceBasic`, as embedded in a project. */
export function presentNamespaceBasic(namespace: Namespace, externalUrl: string) {
  return {
    id: namespace.id,
    name: namespace.name,
    path: namespace.path,
    kind: namespace.kind,
    full_path: namespace.fullPath,
    parent_id: namespace.parentId,
    avatar_url: null,
    web_url: namespaceWebUrl(namespace, externalUrl),
  };
}

/** How a project is shown, depending on who looks. */
export interface ProjectPresentation {
  /** GitLab shows where a repository is stored to admins only. */
  admin: boolean;
}

/**
 * Where a project's repository and page are: SSH clone URL on the external URL's host (the default for
 * GitLab's `gitlab_shell.ssh_host`), HTTP clone URL and web URL under the external URL.
 */
export function projectUrls(project: Pick<Project, 'fullPath'>, externalUrl: string) {
  return {
    ssh_url_to_repo: `git@${new URL(externalUrl).hostname}:${project.fullPath}.git`,
    http_url_to_repo: `${externalUrl}/${project.fullPath}.git`,
    web_url: `${externalUrl}/${project.fullPath}`,
  };
}

/**
 * GitLab's `Project` entity (the subset gatehouse keeps). `lineage` is the project's namespace chain,
 * root first, ending with its namespace.
 */
export function presentProject(project: Project, lineage: readonly Namespace[], externalUrl: string, options: ProjectPresentation) {
  const namespace = lineage[lineage.length - 1];
  return {
    id: project.id,
    description: project.description === '' ? null : project.description,
    name: project.name,
    name_with_namespace: `${fullName(lineage)} / ${project.name}`,
    path: project.path,
    path_with_namespace: project.fullPath,
    created_at: iso(project.createdAt),
    default_branch: project.defaultBranch,
    topics: [],
    ...projectUrls(project, externalUrl),
    avatar_url: null,
    star_count: 0,
    forks_count: 0,
    last_activity_at: iso(project.updatedAt),
    namespace: presentNamespaceBasic(namespace, externalUrl),
    visibility: project.visibility,
    archived: project.archived,
    creator_id: project.creatorId,
    marked_for_deletion_at: project.markedForDeletionAt ? utcDay(project.markedForDeletionAt) : null,
    marked_for_deletion_on: project.markedForDeletionAt ? utcDay(project.markedForDeletionAt) : null,
    ...(options.admin ? { repository_storage: project.repositoryStorage } : {}),
  };
}

/**
 * GitLab's `BasicProjectDetails`: what anonymous callers, and anyone asking `simple=true`, get in a
 * project list.
 */
export function presentBasicProject(project: Project, lineage: readonly Namespace[], externalUrl: string, options: ProjectPresentation) {
  const namespace = lineage[lineage.length - 1];
  return {
    id: project.id,
    description: project.description === '' ? null : project.description,
    name: project.name,
    name_with_namespace: `${fullName(lineage)} / ${project.name}`,
    path: project.path,
    path_with_namespace: project.fullPath,
    created_at: iso(project.createdAt),
    default_branch: project.defaultBranch,
    tag_list: [],
    topics: [],
    ...projectUrls(project, externalUrl),
    readme_url: null,
    forks_count: 0,
    avatar_url: null,
    star_count: 0,
    last_activity_at: iso(project.updatedAt),
    visibility: project.visibility,
    namespace: presentNamespaceBasic(namespace, externalUrl),
    ...(options.admin ? { repository_storage: project.repositoryStorage } : {}),
  };
}

/** GitLab's `Member` entity: the user (`id` is the user's id) and their access level in the source. */
export function presentMember(membership: Membership, externalUrl: string) {
  return {
    ...presentUserBasic(membership.user, externalUrl),
    access_level: membership.member.accessLevel,
    created_at: iso(membership.member.createdAt),
    expires_at: membership.member.expiresAt,
    membership_state: 'active',
  };
}

/** GitLab's `DeployKeysProject` entity: the deploy key merged with this project's `can_push`. */
export function presentProjectDeployKey(deployKey: ProjectDeployKey) {
  const { key } = deployKey;
  return {
    id: key.id,
    title: key.title,
    created_at: iso(key.createdAt),
    expires_at: iso(key.expiresAt),
    key: key.key,
    usage_type: key.usageType,
    fingerprint_sha256: `SHA256:${key.fingerprintSha256}`,
    can_push: deployKey.canPush,
  };
}
