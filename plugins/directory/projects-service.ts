import { createHash } from 'node:crypto';
import {
  ApiError,
  ForbiddenError,
  ModelValidationError,
  NotFoundError,
  ServiceError,
  uniqueViolation,
  type Knex,
  type Clock,
} from 'gatehouse';
import { changedKey, changedNamespace, changedProject, changedUser, type DirectoryCache } from './read-cache.js';
import { KeysService } from './keys-service.js';
import { KeysRepository, type SshKey } from './keys-repository.js';
import { parseSshPublicKey } from './ssh-public-key.js';
import { UsersRepository, type User } from './users-repository.js';
import {
  NamespacesRepository,
  ancestorPaths,
  visibilityRank,
  type Namespace,
  type NamespaceChanges,
  type Visibility,
} from './namespaces-repository.js';
import { ProjectsRepository, type Project, type ProjectChanges } from './projects-repository.js';
import { MembersRepository, type Member, type MemberSource } from './members-repository.js';

export type { Namespace, Visibility } from './namespaces-repository.js';
export type { Project } from './projects-repository.js';
export type { Member } from './members-repository.js';

/** GitLab's access levels (`Gitlab::Access`). */
export const ACCESS = {
  NO_ACCESS: 0,
  GUEST: 10,
  PLANNER: 15,
  REPORTER: 20,
  DEVELOPER: 30,
  MAINTAINER: 40,
  OWNER: 50,
} as const;

/** The access levels a membership may be given through the API. */
export const MEMBER_ACCESS_LEVELS: readonly number[] = [10, 15, 20, 30, 40, 50];

/*
 * Who may do what, after GitLab's GroupPolicy and ProjectPolicy. Admins may do everything.
 * - create_subgroup, admin_group (PUT /groups/:id) and admin_group_member: group owners.
 * - create_projects in a group: maintainers (GitLab's default project_creation_level).
 * - admin_project (PUT /projects/:id, deploy keys) and admin_project_member: project maintainers;
 *   making someone an owner needs owner (manage_owners).
 * - change_visibility_level and archive_project sit in ProjectPolicy's owner block, so both need owner.
 *   The gateway follows GitLab here rather than allowing maintainers: a maintainer making a private
 *   project public, or archiving it, is exactly what GitLab refuses.
 */
const CREATE_SUBGROUP_ACCESS = ACCESS.OWNER;
const ADMIN_GROUP_ACCESS = ACCESS.OWNER;
const ADMIN_GROUP_MEMBER_ACCESS = ACCESS.OWNER;
const CREATE_PROJECTS_ACCESS = ACCESS.MAINTAINER;
const ADMIN_PROJECT_ACCESS = ACCESS.MAINTAINER;
const ADMIN_PROJECT_MEMBER_ACCESS = ACCESS.MAINTAINER;
const CHANGE_VISIBILITY_ACCESS = ACCESS.OWNER;
/** Needed by `POST /projects/:id/archive` and `/unarchive` (GitLab's archive_project). */
export const ARCHIVE_PROJECT_ACCESS = ACCESS.OWNER;

/** GitLab's default (and here the only) repository storage. */
export const DEFAULT_REPOSITORY_STORAGE = 'default';
const DEFAULT_BRANCH = 'main';
const DEFAULT_VISIBILITY: Visibility = 'private';

// Model-error texts, verbatim from GitLab (Gitlab::PathRegex, Gitlab::Regex, the Rails validators).
export const TAKEN = 'has already been taken';
const BLANK = "can't be blank";
const NOT_VALID = 'is not valid';
const MEMBER_EXISTS = 'Member already exists';
const NOT_INCLUDED = 'is not included in the list';
const NAMESPACE_PATH_MESSAGE = "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-' or end in '.', '.git' or '.atom'.";
const PROJECT_PATH_MESSAGE = "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'";
const PROJECT_NAME_MESSAGE =
  "can contain only letters, digits, emoji, '_', '.', '+', dashes, or spaces. It must start with a letter, digit, emoji, or '_'.";
const GROUP_NAME_MESSAGE =
  "can contain only letters, digits, emoji, '_', '.', dash, space, parenthesis. It must start with letter, digit, emoji or '_'.";
const tooLong = (max: number) => `is too long (maximum is ${max} characters)`;

const MAX_NAME = 255;
const MAX_PATH = 255;
const MAX_BRANCH = 255;
const MAX_GROUP_DESCRIPTION = 500;
const MAX_PROJECT_DESCRIPTION = 2000;

/**
 * Runs a create whose duplicate pre-checks a concurrent request can pass at the same moment. The one
 * that loses the race fails on the unique index; by then the winner's row is committed, so running
 * the create once more gives exactly the answer a sequential duplicate gets (all its model errors).
 * Should it lose again, `duplicate` is the answer.
 *
 * Under READ COMMITTED each pre-check sees its own snapshot, so a loser can also see the winner's
 * commit land between two checks (path free, then name taken) and answer half the errors. A first
 * attempt that found anything taken therefore runs once more too: the winner is committed by then,
 * so every check sees it.
 */
async function againOnUniqueViolation<T>(duplicate: () => ApiError, create: () => Promise<T>): Promise<T> {
  try {
    return await create();
  } catch (error) {
    const tornDuplicateCheck = error instanceof ModelValidationError && Object.values(error.fields).some((messages) => messages.includes(TAKEN));
    if (!tornDuplicateCheck && uniqueViolation(error) === undefined) throw error;
  }
  try {
    return await create();
  } catch (error) {
    if (uniqueViolation(error) === undefined) throw error;
    throw duplicate();
  }
}

/** Namespace paths must also end in a letter, digit, `_` or `-`; project paths may end in `.`. */
const NAMESPACE_PATH = /^(?:[a-zA-Z0-9_.][a-zA-Z0-9_.-]*[a-zA-Z0-9_-]|[a-zA-Z0-9_])$/;
const PROJECT_PATH = /^[a-zA-Z0-9_.][a-zA-Z0-9_.-]*$/;
const RESERVED_SUFFIX = /\.(git|atom)$/;
// Ruby's \p{Alnum} is letters, marks and decimal digits; U+00A9–U+1F9FF is GitLab's "emoji" range.
const PROJECT_NAME = /^[\p{L}\p{M}\p{Nd}\u{00A9}-\u{1F9FF}_][\p{L}\p{M}\p{Nd}\p{Pd}+\u{00A9}-\u{1F9FF}_. ]*$/u;
const GROUP_NAME = /^[\p{L}\p{M}\p{Nd}\u{00A9}-\u{1F9FF}_][\p{L}\p{M}\p{Nd}\p{Pd}\u{00A9}-\u{1F9FF}_(). ]*$/u;

/**
 * Who is asking. A `PrincipalUser` fits; `state` other than `active` (blocked, deactivated) counts as
 * anonymous, so such a user sees public resources only. `null` is anonymous.
 */
export interface Viewer {
  id: number;
  isAdmin: boolean;
  state?: string;
}

/** `POST /groups`: a top-level group, or a subgroup of `parentId`. */
export interface CreateGroupInput {
  name: string;
  path: string;
  parentId?: number;
  visibility?: Visibility;
  description?: string;
  codeSuggestions?: boolean;
}

/** `PUT /groups/:id`: the settings a group owner may change (the path never changes). */
export type UpdateGroupInput = NamespaceChanges;

/** `POST /projects`. */
export interface CreateProjectInput {
  /** At least one of name and path; the other is derived from it as GitLab does. */
  name?: string;
  path?: string;
  /** Defaults to the creator's personal namespace. */
  namespaceId?: number;
  visibility?: Visibility;
  description?: string;
  defaultBranch?: string;
}

/** `PUT /projects/:id`: the settings gatehouse keeps (the path never changes). */
export interface UpdateProjectInput {
  name?: string;
  description?: string;
  visibility?: Visibility;
  defaultBranch?: string;
}

/** Who to add as a member: by id, else by username. */
export interface AddMemberInput {
  userId?: number;
  username?: string;
  accessLevel: number;
}

/** A membership as the API shows it: the member user and their level in this source. */
export interface Membership {
  user: User;
  member: Member;
}

/** `POST /projects/:id/deploy_keys`. */
export interface AddDeployKeyInput {
  title: string;
  key: string;
  canPush?: boolean;
  expiresAt?: Date | null;
}

/** A deploy key as linked to one project. */
export interface ProjectDeployKey {
  key: SshKey;
  canPush: boolean;
}

const isActive = (viewer: Viewer | null | undefined): viewer is Viewer =>
  !!viewer && (viewer.state === undefined || viewer.state === 'active');

const isAdmin = (viewer: Viewer | null | undefined) => isActive(viewer) && viewer.isAdmin;

const isNumericId = (ref: string | number) => typeof ref === 'number' || /^\d+$/.test(ref);

/** `@hashed/ab/cd/<sha256 of the id>`: GitLab's hashed storage path of a project repository. */
export function hashedDiskPath(projectId: number): string {
  const hash = createHash('sha256').update(String(projectId)).digest('hex');
  return `@hashed/${hash.slice(0, 2)}/${hash.slice(2, 4)}/${hash}`;
}

/** Rails' `parameterize`: GitLab derives a project path from a name that is not a valid path. */
export function parameterize(value: string): string {
  return value
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^a-zA-Z0-9_-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-|-$/g, '')
    .toLowerCase();
}

/** Collects model errors per field, in the order they are found. */
class Errors {
  readonly fields: Record<string, string[]> = {};
  add(field: string, message: string) {
    (this.fields[field] ??= []).push(message);
  }
  get any() {
    return Object.keys(this.fields).length > 0;
  }
  throwIfAny() {
    if (this.any) throw new ModelValidationError(this.fields);
  }
}

function checkName(errors: Errors, name: string, format: RegExp, message: string) {
  if (name.trim() === '') errors.add('name', BLANK);
  if (name.length > MAX_NAME) errors.add('name', tooLong(MAX_NAME));
  if (!format.test(name)) errors.add('name', message);
}

function checkPath(errors: Errors, path: string, format: RegExp, message: string) {
  if (path === '') errors.add('path', BLANK);
  if (path.length > MAX_PATH) errors.add('path', tooLong(MAX_PATH));
  if (!format.test(path) || RESERVED_SUFFIX.test(path)) errors.add('path', message);
}

function checkLength(errors: Errors, field: string, value: string | undefined, max: number) {
  if (value !== undefined && value.length > max) errors.add(field, tooLong(max));
}

/**
 * Namespaces (personal namespaces and groups), projects, memberships and deploy keys.
 *
 * Other plugins use the lookups and the access answers (`accessLevel`, `canRead`, `deployKeyLink`,
 * `codeSuggestionsEnabled`); the API routes use the operations, which check permissions themselves
 * and throw GitLab's errors (404 for what the caller may not see, 403 for what they may see but not change).
 */
export class ProjectsService {
  readonly namespaces: NamespacesRepository;
  readonly projects: ProjectsRepository;
  readonly members: MembersRepository;
  private readonly users: UsersRepository;
  private readonly keysRepository: KeysRepository;

  constructor(
    private readonly db: Knex,
    private readonly clock: Clock,
    private readonly keys: KeysService,
    private readonly cache: DirectoryCache,
  ) {
    this.namespaces = new NamespacesRepository(db);
    this.projects = new ProjectsRepository(db);
    this.members = new MembersRepository(db);
    this.users = new UsersRepository(db);
    this.keysRepository = new KeysRepository(db);
  }

  // ——— Lookups ———

  findNamespaceById(id: number): Promise<Namespace | undefined> {
    return this.namespaces.findById(id);
  }

  /** A namespace (group or personal) by full path, case-insensitive; surrounding slashes are ignored. */
  findNamespaceByPath(fullPath: string): Promise<Namespace | undefined> {
    return this.namespaces.findByFullPath(fullPath.replace(/^\/+|\/+$/g, ''));
  }

  findProjectById(id: number): Promise<Project | undefined> {
    return this.cached(`project:${id}`, () => this.projects.findById(id));
  }

  /** Reads outside a transaction go through the read cache (every committed directory write clears it). */
  private cached<T>(key: string, load: () => Promise<T>, db: Knex = this.db): Promise<T> {
    return db === this.db ? this.cache.get(key, load) : load();
  }

  /** After a committed write: every instance's directory cache drops what it read, before the answer. */
  private async changed<T>(result: T, ...tags: string[]): Promise<T> {
    await this.cache.invalidate(tags);
    return result;
  }

  /**
   * A project by full path as git clients type it: case-insensitive, with or without a leading `/`
   * and a trailing `.git` (`/group/sub/proj.git` finds `group/sub/proj`).
   */
  findProjectByPath(fullPath: string): Promise<Project | undefined> {
    const path = fullPath.replace(/^\/+/, '').replace(/\.git$/i, '');
    return this.cached(`project-path:${path.toLowerCase()}`, () => this.projects.findByFullPath(path));
  }

  /** A user's personal namespace. */
  findUserNamespace(userId: number): Promise<Namespace | undefined> {
    return this.namespaces.findUserNamespace(userId);
  }

  /** A namespace and its ancestors, root first, ending with the namespace itself. */
  lineageOf(namespace: Namespace, db: Knex = this.db): Promise<Namespace[]> {
    const load = () => this.namespaces.findByFullPaths([...ancestorPaths(namespace.fullPath), namespace.fullPath], db);
    return this.cached(`lineage:${namespace.fullPath.toLowerCase()}`, load, db);
  }

  /** A project's namespace and that namespace's ancestors, root first, ending with the project's namespace. */
  projectLineage(project: Project, db: Knex = this.db): Promise<Namespace[]> {
    const load = () => this.namespaces.findByFullPaths(ancestorPaths(project.fullPath), db);
    return this.cached(`project-lineage:${project.fullPath.toLowerCase()}`, load, db);
  }

  // ——— Access ———

  /**
   * A user's effective GitLab access level in a project: the highest of their direct project
   * membership, their membership in the project's namespace and in every ancestor group, and 50
   * (owner) when the project lives in their personal namespace; 0 when none. Admin status is not
   * counted here; callers that honour it check `isAdmin` themselves (as `canRead` does).
   */
  accessLevel(userId: number, project: Project, db: Knex = this.db): Promise<number> {
    return this.cached(`access:${userId}:${project.id}`, async () => this.effectiveAccess(userId, await this.projectLineage(project, db), project.id, db), db);
  }

  /** A user's effective access level in a namespace: its own and its ancestors' memberships; 50 for one's own personal namespace. */
  async namespaceAccessLevel(userId: number, namespace: Namespace, db: Knex = this.db): Promise<number> {
    return this.effectiveAccess(userId, await this.lineageOf(namespace, db), undefined, db);
  }

  private async effectiveAccess(userId: number, lineage: readonly Namespace[], projectId: number | undefined, db: Knex) {
    const personal = lineage.some((ns) => ns.kind === 'user' && ns.ownerId === userId) ? ACCESS.OWNER : ACCESS.NO_ACCESS;
    const member = await this.members.maxAccess(
      userId,
      lineage.map((ns) => ns.id),
      projectId,
      db,
    );
    return Math.max(personal, member);
  }

  /**
   * Whether a viewer may see a project through the API: public → anyone, including anonymous;
   * internal → any active signed-in user; private → guest (10) or more; admins see everything.
   * This is visibility, not code access: GitLab does not let guests download a private project's
   * code, so git access should compare `accessLevel` itself.
   */
  async canRead(viewer: Viewer | null, project: Project): Promise<boolean> {
    if (project.visibility === 'public') return true;
    if (!isActive(viewer)) return false;
    if (viewer.isAdmin || project.visibility === 'internal') return true;
    return (await this.accessLevel(viewer.id, project)) >= ACCESS.GUEST;
  }

  /** The same rule as `canRead`, for a namespace (membership inherited from ancestors). */
  async canReadNamespace(viewer: Viewer | null, namespace: Namespace): Promise<boolean> {
    if (namespace.visibility === 'public') return true;
    if (!isActive(viewer)) return false;
    if (viewer.isAdmin || namespace.visibility === 'internal') return true;
    return (await this.namespaceAccessLevel(viewer.id, namespace)) >= ACCESS.GUEST;
  }

  /**
   * A namespace's billable users, as GitLab counts seats: a personal namespace is its owner (1); a
   * group counts the distinct active users who are members of it, of any subgroup, or of any project
   * in it or its subgroups. With `excludeGuests` (GitLab's Ultimate plans) a user counts only when
   * one of those memberships is above Guest.
   */
  async billableUserCount(namespace: Namespace, options: { excludeGuests: boolean }, db: Knex = this.db): Promise<number> {
    if (namespace.kind === 'user') return 1;
    const namespaceIds = await this.namespaces.selfAndDescendantIds(namespace.id, db);
    const projectIds = await this.projects.idsInNamespaces(namespaceIds, db);
    const minAccess = options.excludeGuests ? ACCESS.GUEST + 1 : ACCESS.GUEST;
    return this.members.countActiveUsers(namespaceIds, projectIds, minAccess, db);
  }

  /**
   * Whether Code Suggestions are allowed in a namespace: false when the namespace or any ancestor
   * group has switched them off (a parent's "off" cannot be overridden below it).
   */
  async codeSuggestionsEnabled(namespace: Namespace): Promise<boolean> {
    const lineage = await this.lineageOf(namespace);
    return lineage.every((ns) => ns.codeSuggestions);
  }

  /**
   * The namespaces through which a user may use Code Suggestions: their personal namespace and the
   * groups they are a direct member of, each counted when it and its ancestors allow them. Subgroups
   * need no look: they inherit a member's access, and their switch cannot be on below an "off".
   * Ids in ascending order; empty when the user may not use Code Suggestions.
   */
  codeSuggestionsNamespaceIds(userId: number): Promise<number[]> {
    return this.cached(`code-suggestions:${userId}`, async () => {
      const personal = await this.namespaces.findUserNamespace(userId);
      const groups = await Promise.all((await this.members.namespaceIdsOf(userId)).map((id) => this.namespaces.findById(id)));
      const candidates = [personal, ...groups].filter((ns): ns is Namespace => ns !== undefined && ns.codeSuggestions);
      const allowed = await Promise.all(candidates.map((ns) => this.codeSuggestionsEnabled(ns)));
      return candidates.filter((_, i) => allowed[i]).map((ns) => ns.id).sort((a, b) => a - b);
    });
  }

  /** A project's deploy keys with their push right, oldest link first. */
  async deployKeysFor(projectId: number): Promise<ProjectDeployKey[]> {
    const links = await this.projects.deployKeyLinksOf(projectId);
    const keys = await Promise.all(links.map((link) => this.keysRepository.findById(link.deployKeyId)));
    return links.flatMap((link, i) => (keys[i] ? [{ key: keys[i]!, canPush: link.canPush }] : []));
  }

  /** Whether a deploy key is enabled for a project, and whether it may push there; undefined when it is not linked. */
  deployKeyLink(keyId: number, projectId: number): Promise<{ canPush: boolean } | undefined> {
    return this.cached(`deploy-key-link:${keyId}:${projectId}`, async () => {
      const link = await this.projects.findDeployKeyLink(keyId, projectId);
      return link ? { canPush: link.canPush } : undefined;
    });
  }

  /** Archives or unarchives a project (no permission check: callers decide who may). */
  async setArchived(project: Project, archived: boolean): Promise<Project> {
    await this.projects.update(project.id, { archived }, this.clock.now());
    await this.changed(undefined, changedProject(project.id));
    return (await this.projects.findById(project.id))!;
  }

  // ——— Resolution for the API: 404 for what the viewer may not see, 403 for what they may not change ———

  /** A group by id or full path that the viewer may see, else 404 `Group Not Found` (no existence leak). */
  async visibleGroup(viewer: Viewer | null, ref: string | number): Promise<Namespace> {
    const namespace = isNumericId(ref) ? await this.namespaces.findById(Number(ref)) : await this.namespaces.findByFullPath(String(ref));
    if (!namespace || namespace.kind !== 'group' || !(await this.canReadNamespace(viewer, namespace))) throw new NotFoundError('Group');
    return namespace;
  }

  /** A project by id or full path that the viewer may see, else 404 `Project Not Found`. */
  async visibleProject(viewer: Viewer | null, ref: string | number): Promise<Project> {
    const project = isNumericId(ref) ? await this.projects.findById(Number(ref)) : await this.projects.findByFullPath(String(ref));
    if (!project || !(await this.canRead(viewer, project))) throw new NotFoundError('Project');
    return project;
  }

  /** 403 unless the viewer is an admin or has at least `level` in the group (inherited included). */
  async requireGroupAccess(viewer: Viewer, group: Namespace, level: number): Promise<void> {
    if (isAdmin(viewer)) return;
    if ((await this.namespaceAccessLevel(viewer.id, group)) < level) throw new ForbiddenError();
  }

  /** 403 unless the viewer is an admin or has at least `level` in the project (inherited included). */
  async requireProjectAccess(viewer: Viewer, project: Project, level: number): Promise<void> {
    if (isAdmin(viewer)) return;
    if ((await this.accessLevel(viewer.id, project)) < level) throw new ForbiddenError();
  }

  // ——— Groups ———

  /**
   * Creates a group, or a subgroup under `parentId` (the parent must be visible, else 404, and the
   * creator its owner, else 403). The creator becomes the group's owner.
   */
  async createGroup(viewer: Viewer, input: CreateGroupInput): Promise<Namespace> {
    const parent = input.parentId === undefined ? undefined : await this.visibleGroup(viewer, input.parentId);
    if (parent) await this.requireGroupAccess(viewer, parent, CREATE_SUBGROUP_ACCESS);
    const visibility = input.visibility ?? DEFAULT_VISIBILITY;
    const fullPath = parent ? `${parent.fullPath}/${input.path}` : input.path;

    const created = await againOnUniqueViolation(() => new ModelValidationError({ path: [TAKEN] }), () => this.db.transaction(async (trx) => {
      const errors = new Errors();
      checkName(errors, input.name, GROUP_NAME, GROUP_NAME_MESSAGE);
      checkPath(errors, input.path, NAMESPACE_PATH, NAMESPACE_PATH_MESSAGE);
      checkLength(errors, 'description', input.description, MAX_GROUP_DESCRIPTION);
      if (!errors.fields.path && (await this.fullPathTaken(fullPath, trx))) errors.add('path', TAKEN);
      if (parent && visibilityRank(visibility) > visibilityRank(parent.visibility)) {
        errors.add('visibility_level', `${visibility} is not allowed since the parent group has a ${parent.visibility} visibility.`);
      }
      errors.throwIfAny();

      const now = this.clock.now();
      const group = await this.namespaces.insert(
        {
          kind: 'group',
          name: input.name,
          path: input.path,
          fullPath,
          parentId: parent?.id ?? null,
          ownerId: null,
          description: input.description ?? '',
          visibility,
          codeSuggestions: input.codeSuggestions ?? true,
          now,
        },
        trx,
      );
      await this.members.insert({ sourceType: 'namespace', sourceId: group.id, userId: viewer.id, accessLevel: ACCESS.OWNER }, now, trx);
      return group;
    }));
    return this.changed(created, changedNamespace(created.id));
  }

  /** Updates a group's settings (owners and admins). A group can be no more visible than its parent, nor less than its children. */
  async updateGroup(viewer: Viewer, group: Namespace, input: UpdateGroupInput): Promise<Namespace> {
    await this.requireGroupAccess(viewer, group, ADMIN_GROUP_ACCESS);
    const updated = await this.db.transaction(async (trx) => {
      const errors = new Errors();
      if (input.name !== undefined) checkName(errors, input.name, GROUP_NAME, GROUP_NAME_MESSAGE);
      checkLength(errors, 'description', input.description, MAX_GROUP_DESCRIPTION);
      if (input.visibility !== undefined && input.visibility !== group.visibility) {
        await this.checkGroupVisibility(errors, group, input.visibility, trx);
      }
      errors.throwIfAny();
      await this.namespaces.update(group.id, input, this.clock.now(), trx);
      return (await this.namespaces.findById(group.id, trx))!;
    });
    return this.changed(updated, changedNamespace(group.id));
  }

  private async checkGroupVisibility(errors: Errors, group: Namespace, visibility: Visibility, trx: Knex) {
    const rank = visibilityRank(visibility);
    const parent = group.parentId === null ? undefined : await this.namespaces.findById(group.parentId, trx);
    if (parent && rank > visibilityRank(parent.visibility)) {
      errors.add('visibility_level', `${visibility} is not allowed since the parent group has a ${parent.visibility} visibility.`);
    }
    const projects = await this.projects.visibilitiesIn(group.id, trx);
    if (projects.some((v) => visibilityRank(v) > rank)) {
      errors.add('visibility_level', `${visibility} is not allowed since this group contains projects with higher visibility.`);
    }
    const subgroups = await this.namespaces.childVisibilities(group.id, trx);
    if (subgroups.some((v) => visibilityRank(v) > rank)) {
      errors.add('visibility_level', `${visibility} is not allowed since there are sub-groups with higher visibility.`);
    }
  }

  /** Groups and projects share one route space: `a/b` cannot be both a subgroup and a project. */
  private async fullPathTaken(fullPath: string, trx: Knex) {
    return (await this.namespaces.fullPathTaken(fullPath, trx)) || (await this.projects.fullPathTaken(fullPath, trx));
  }

  // ——— Projects ———

  /**
   * Creates a project in the viewer's personal namespace or in `namespaceId`. A namespace the viewer
   * may not create projects in is GitLab's 400 `{"message":{"namespace":["is not valid"]}}`, the
   * same whether or not it exists. A visibility above the group's is lowered to the group's, as
   * GitLab's CreateService does.
   */
  async createProject(viewer: Viewer, input: CreateProjectInput): Promise<Project> {
    const namespace =
      input.namespaceId === undefined ? await this.personalNamespace(viewer.id) : await this.namespaces.findById(input.namespaceId);
    if (!namespace || !(await this.canCreateProjectIn(viewer, namespace))) throw new ModelValidationError({ namespace: [NOT_VALID] });

    const { name, path } = deriveNameAndPath(input);
    let visibility = input.visibility ?? DEFAULT_VISIBILITY;
    if (namespace.kind === 'group' && visibilityRank(visibility) > visibilityRank(namespace.visibility)) visibility = namespace.visibility;
    const fullPath = `${namespace.fullPath}/${path}`;

    const created = await againOnUniqueViolation(() => new ModelValidationError({ path: [TAKEN] }), () => this.db.transaction(async (trx) => {
      const errors = new Errors();
      checkName(errors, name, PROJECT_NAME, PROJECT_NAME_MESSAGE);
      checkPath(errors, path, PROJECT_PATH, PROJECT_PATH_MESSAGE);
      checkLength(errors, 'description', input.description, MAX_PROJECT_DESCRIPTION);
      checkLength(errors, 'default_branch', input.defaultBranch, MAX_BRANCH);
      if (!errors.fields.path && (await this.fullPathTaken(fullPath, trx))) errors.add('path', TAKEN);
      if (!errors.fields.name && (await this.projects.nameTaken(namespace.id, name, undefined, trx))) errors.add('name', TAKEN);
      errors.throwIfAny();

      const now = this.clock.now();
      const created = await this.projects.insert(
        {
          namespaceId: namespace.id,
          name,
          path,
          fullPath,
          description: input.description ?? '',
          visibility,
          defaultBranch: input.defaultBranch || DEFAULT_BRANCH,
          repositoryStorage: DEFAULT_REPOSITORY_STORAGE,
          creatorId: viewer.id,
          now,
        },
        trx,
      );
      // The hashed path depends on the id, known only after the insert.
      await this.projects.update(created.id, { diskPath: hashedDiskPath(created.id) }, now, trx);
      return (await this.projects.findById(created.id, trx))!;
    }));
    return this.changed(created, changedProject(created.id));
  }

  /**
   * Updates a project (maintainers and admins). Changing its visibility needs owner, as in GitLab;
   * a visibility above its group's is a model error.
   */
  async updateProject(viewer: Viewer, project: Project, input: UpdateProjectInput): Promise<Project> {
    await this.requireProjectAccess(viewer, project, ADMIN_PROJECT_ACCESS);
    // GitLab checks change_visibility_level whenever visibility is sent; only a real change is checked
    // here, so clients that send back the whole object keep working for maintainers.
    const visibilityChanges = input.visibility !== undefined && input.visibility !== project.visibility;
    if (visibilityChanges) await this.requireProjectAccess(viewer, project, CHANGE_VISIBILITY_ACCESS);

    const updated = await this.db.transaction(async (trx) => {
      const errors = new Errors();
      if (input.name !== undefined) {
        checkName(errors, input.name, PROJECT_NAME, PROJECT_NAME_MESSAGE);
        if (!errors.fields.name && (await this.projects.nameTaken(project.namespaceId, input.name, project.id, trx))) errors.add('name', TAKEN);
      }
      checkLength(errors, 'description', input.description, MAX_PROJECT_DESCRIPTION);
      if (input.defaultBranch !== undefined) {
        if (input.defaultBranch === '') errors.add('default_branch', BLANK);
        checkLength(errors, 'default_branch', input.defaultBranch, MAX_BRANCH);
      }
      if (visibilityChanges) {
        const namespace = (await this.namespaces.findById(project.namespaceId, trx))!;
        if (namespace.kind === 'group' && visibilityRank(input.visibility!) > visibilityRank(namespace.visibility)) {
          errors.add('visibility_level', `${input.visibility} is not allowed in a ${namespace.visibility} group.`);
        }
      }
      errors.throwIfAny();
      const changes: ProjectChanges = {
        name: input.name,
        description: input.description,
        visibility: input.visibility,
        defaultBranch: input.defaultBranch,
      };
      await this.projects.update(project.id, changes, this.clock.now(), trx);
      return (await this.projects.findById(project.id, trx))!;
    });
    return this.changed(updated, changedProject(project.id));
  }

  /** Archives or unarchives a project for a viewer allowed to (owners and admins, GitLab's archive_project). */
  async archive(viewer: Viewer, project: Project, archived: boolean): Promise<Project> {
    await this.requireProjectAccess(viewer, project, ARCHIVE_PROJECT_ACCESS);
    return this.setArchived(project, archived);
  }

  private async canCreateProjectIn(viewer: Viewer, namespace: Namespace): Promise<boolean> {
    if (isAdmin(viewer)) return true;
    if (namespace.kind === 'user') return namespace.ownerId === viewer.id;
    return (await this.namespaceAccessLevel(viewer.id, namespace)) >= CREATE_PROJECTS_ACCESS;
  }

  /** The user's personal namespace, created on first use for users that predate personal namespaces. */
  private async personalNamespace(userId: number): Promise<Namespace | undefined> {
    const existing = await this.namespaces.findUserNamespace(userId);
    if (existing) return existing;
    const user = await this.users.findById(userId);
    if (!user) return undefined;
    const created = await this.db.transaction((trx) => this.namespaces.insertUserNamespace(user, this.clock.now(), trx));
    return this.changed(created, changedUser(userId));
  }

  // ——— Members ———

  /** Adds a project member (maintainers and admins; making an owner needs owner). */
  async addProjectMember(viewer: Viewer, project: Project, input: AddMemberInput): Promise<Membership> {
    await this.requireProjectAccess(viewer, project, ADMIN_PROJECT_MEMBER_ACCESS);
    if (input.accessLevel === ACCESS.OWNER) await this.requireProjectAccess(viewer, project, ACCESS.OWNER);
    return this.addMember('project', project.id, input);
  }

  /** Adds a group member (owners and admins, GitLab's admin_group_member). */
  async addGroupMember(viewer: Viewer, group: Namespace, input: AddMemberInput): Promise<Membership> {
    await this.requireGroupAccess(viewer, group, ADMIN_GROUP_MEMBER_ACCESS);
    return this.addMember('namespace', group.id, input);
  }

  /** 404 `User Not Found` for an unknown user, 409 `Member already exists` for a direct member. */
  private async addMember(sourceType: MemberSource, sourceId: number, input: AddMemberInput): Promise<Membership> {
    const added = await againOnUniqueViolation(() => new ServiceError(409, MEMBER_EXISTS), () => this.db.transaction(async (trx) => {
      const user =
        input.userId !== undefined
          ? await this.users.findById(input.userId, trx)
          : input.username !== undefined
            ? await this.users.findByUsername(input.username, trx)
            : undefined;
      if (!user) throw new NotFoundError('User');
      if (await this.members.find(sourceType, sourceId, user.id, trx)) throw new ServiceError(409, MEMBER_EXISTS);
      if (!MEMBER_ACCESS_LEVELS.includes(input.accessLevel)) throw new ModelValidationError({ access_level: [NOT_INCLUDED] });
      const member = await this.members.insert({ sourceType, sourceId, userId: user.id, accessLevel: input.accessLevel }, this.clock.now(), trx);
      return { user, member };
    }));
    return this.changed(added, sourceType === 'project' ? changedProject(sourceId) : changedNamespace(sourceId));
  }

  // ——— Deploy keys ———

  /**
   * Adds a deploy key to a project (maintainers and admins). A key already linked to the project is
   * answered as it is. An existing deploy key with the same fingerprint is reused (linked with this
   * `can_push`) when the viewer could manage it — an admin, or a maintainer of a project it is already
   * on, as GitLab's `accessible_deploy_keys` — so nobody learns another project's key title. A user's
   * own SSH key, or a deploy key the viewer may not reuse, is `fingerprint_sha256 has already been taken`.
   */
  async addDeployKey(viewer: Viewer, project: Project, input: AddDeployKeyInput): Promise<ProjectDeployKey> {
    await this.requireProjectAccess(viewer, project, ADMIN_PROJECT_ACCESS);
    const canPush = input.canPush ?? false;
    const added = await this.db.transaction(async (trx): Promise<ProjectDeployKey> => {
      const parsed = parseSshPublicKey(input.key);
      const existing = parsed ? await this.keysRepository.findByFingerprint(parsed.fingerprintSha256, trx) : undefined;
      if (existing) {
        const linked = await this.projects.findDeployKeyLink(existing.id, project.id, trx);
        if (existing.type === 'deploy_key' && linked) return { key: existing, canPush: linked.canPush };
        if (existing.type !== 'deploy_key' || !(await this.canReuseDeployKey(viewer, existing, trx))) {
          throw new ModelValidationError({ fingerprint_sha256: [TAKEN] });
        }
        const link = await this.projects.insertDeployKeyLink({ deployKeyId: existing.id, projectId: project.id, canPush }, this.clock.now(), trx);
        return { key: existing, canPush: link.canPush };
      }
      // KeysService owns parsing, expiry and title checks (and their model errors).
      const key = await this.keys.add(null, { title: input.title, key: input.key, expiresAt: input.expiresAt ?? null }, 'deploy_key', trx);
      const link = await this.projects.insertDeployKeyLink({ deployKeyId: key.id, projectId: project.id, canPush }, this.clock.now(), trx);
      return { key, canPush: link.canPush };
    });
    return this.changed(added, changedProject(project.id), changedKey(added.key.id));
  }

  private async canReuseDeployKey(viewer: Viewer, key: SshKey, trx: Knex): Promise<boolean> {
    if (isAdmin(viewer)) return true;
    for (const projectId of await this.projects.projectIdsOfDeployKey(key.id, trx)) {
      const other = await this.projects.findById(projectId, trx);
      if (other && (await this.accessLevel(viewer.id, other, trx)) >= ADMIN_PROJECT_ACCESS) return true;
    }
    return false;
  }
}

/** GitLab's `set_project_name_from_path`: the name defaults to the path; a path from a name is parameterized when invalid. */
function deriveNameAndPath(input: { name?: string; path?: string }): { name: string; path: string } {
  if (input.name !== undefined && input.path !== undefined) return { name: input.name, path: input.path };
  if (input.path !== undefined) return { name: input.path, path: input.path };
  const name = input.name ?? '';
  const valid = PROJECT_PATH.test(name) && !RESERVED_SUFFIX.test(name);
  return { name, path: valid ? name : parameterize(name) };
}
