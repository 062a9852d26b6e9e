import { ForbiddenError, ModelValidationError, RecordNotFoundError, utcDay, type Clock, type Knex, type PageWindow } from 'gatehouse';
import type { MemberFilter, MembersRepository, Member, MemberSource } from './members-repository.js';
import type { Namespace } from './namespaces-repository.js';
import type { Project } from './projects-repository.js';
import { ACCESS, type Membership, type ProjectsService, type Viewer } from './projects-service.js';
import type { UsersRepository } from './users-repository.js';
import { changedNamespace, changedProject, changedUser, type DirectoryCache } from './read-cache.js';

/** The access levels a membership may hold (`Gitlab::Access.all_values`). */
export const MEMBER_LEVELS: readonly number[] = [10, 15, 20, 30, 40, 50];
export const NOT_INCLUDED = 'is not included in the list';
export const PAST_DATE = 'cannot be a date in the past';

/** GitLab's admin_group_member: group owners. */
const ADMIN_GROUP_MEMBER_ACCESS = ACCESS.OWNER;
/** GitLab's admin_project_member: project maintainers; owners are managed by owners only. */
const ADMIN_PROJECT_MEMBER_ACCESS = ACCESS.MAINTAINER;

/** A group or a project, as the member routes resolved it. */
export type MemberSourceRef = { type: 'group'; group: Namespace } | { type: 'project'; project: Project };

/** `PUT …/members/:user_id`. */
export interface UpdateMemberInput {
  accessLevel: number;
  /** `YYYY-MM-DD`; null clears it; undefined leaves it as it is. */
  expiresAt?: string | null;
}

const isAdmin = (viewer: Viewer) => viewer.isAdmin && (viewer.state === undefined || viewer.state === 'active');

/** `access_level` outside GitLab's levels is the model's inclusion error, not a parameter error. */
export function checkAccessLevel(level: number): void {
  if (!MEMBER_LEVELS.includes(level)) throw new ModelValidationError({ access_level: [NOT_INCLUDED] });
}

/**
 * Group and project members as GitLab's members API shows and changes them: direct members, all
 * effective members (inherited from ancestor groups, highest level per user), and updates and removals
 * under GitLab's rules (owners manage group members; maintainers manage project members below Owner;
 * anyone may leave; a group's last owner stays).
 *
 * A project in a personal namespace shows its owner as a direct Owner member, as GitLab (which stores
 * that membership) does; here it is derived from the namespace and cannot be changed or removed.
 */
export class MembersService {
  constructor(
    private readonly db: Knex,
    private readonly clock: Clock,
    private readonly cache: DirectoryCache,
    private readonly directory: ProjectsService,
    private readonly members: MembersRepository,
    private readonly users: UsersRepository,
  ) {}

  /** `GET …/members`: direct members, oldest membership first. */
  async direct(source: MemberSourceRef, filter: MemberFilter, window: PageWindow): Promise<{ items: Membership[]; total: number }> {
    const all = await this.directMembers(source, filter);
    return { items: all.slice(window.offset, window.offset + window.limit), total: all.length };
  }

  /** `GET …/members/all`: every effective member once, with their highest level, by user id. */
  async all(source: MemberSourceRef, filter: MemberFilter, window: PageWindow): Promise<{ items: Membership[]; total: number }> {
    const all = await this.effectiveMembers(source, filter);
    return { items: all.slice(window.offset, window.offset + window.limit), total: all.length };
  }

  /** `GET …/members/:user_id`, else `404 Not found`. */
  async findDirect(source: MemberSourceRef, userId: number): Promise<Membership> {
    const [found] = await this.directMembers(source, { userIds: [userId] });
    if (!found) throw new RecordNotFoundError();
    return found;
  }

  /** `GET …/members/all/:user_id`, else `404 Not found`. */
  async findEffective(source: MemberSourceRef, userId: number): Promise<Membership> {
    const [found] = await this.effectiveMembers(source, { userIds: [userId] });
    if (!found) throw new RecordNotFoundError();
    return found;
  }

  /** `PUT …/members/:user_id`: 404 for a non-member, 403 without the right, then the model's 400s. */
  async update(viewer: Viewer, source: MemberSourceRef, userId: number, input: UpdateMemberInput): Promise<Membership> {
    const target = await this.findDirect(source, userId);
    await this.requireManage(viewer, source, target, input.accessLevel);
    if (source.type === 'group' && (await this.isLastOwner(source.group, target))) throw new ForbiddenError();
    checkAccessLevel(input.accessLevel);
    if (typeof input.expiresAt === 'string' && input.expiresAt < utcDay(this.clock.now())) throw new ModelValidationError({ expires_at: [PAST_DATE] });
    await this.db.transaction((trx) => this.members.updateLevel(target.member.id, { accessLevel: input.accessLevel, expiresAt: input.expiresAt }, trx));
    await this.cache.invalidate([this.sourceTag(source), changedUser(userId)]);
    return this.findDirect(source, userId);
  }

  /** `DELETE …/members/:user_id`: members may leave; managers remove others; a group's last owner stays. */
  async remove(viewer: Viewer, source: MemberSourceRef, userId: number): Promise<void> {
    const target = await this.findDirect(source, userId);
    if (viewer.id !== userId || target.member.id === 0) await this.requireManage(viewer, source, target, target.member.accessLevel);
    if (source.type === 'group' && (await this.isLastOwner(source.group, target))) throw new ForbiddenError();
    await this.db.transaction((trx) => this.members.delete(target.member.id, trx));
    await this.cache.invalidate([this.sourceTag(source), changedUser(userId)]);
  }

  private sourceTag(source: MemberSourceRef) {
    return source.type === 'group' ? changedNamespace(source.group.id) : changedProject(source.project.id);
  }

  /**
   * 403 unless the viewer may change this member: admins; a group's owners; a project's maintainers,
   * with Owner needed to touch an owner or to make one. The personal project's owner is nobody's to change.
   */
  private async requireManage(viewer: Viewer, source: MemberSourceRef, target: Membership, newLevel: number): Promise<void> {
    if (target.member.id === 0) throw new ForbiddenError();
    if (isAdmin(viewer)) return;
    if (source.type === 'group') {
      await this.directory.requireGroupAccess(viewer, source.group, ADMIN_GROUP_MEMBER_ACCESS);
      return;
    }
    await this.directory.requireProjectAccess(viewer, source.project, ADMIN_PROJECT_MEMBER_ACCESS);
    if (target.member.accessLevel >= ACCESS.OWNER || newLevel >= ACCESS.OWNER) {
      await this.directory.requireProjectAccess(viewer, source.project, ACCESS.OWNER);
    }
  }

  /** Whether the member is the group's only owner, counting owners inherited from ancestors (GitLab's `last_owner?`). */
  private async isLastOwner(group: Namespace, target: Membership): Promise<boolean> {
    if (target.member.accessLevel < ACCESS.OWNER) return false;
    const lineage = await this.directory.lineageOf(group);
    const owners = await this.members.listOf(
      'namespace',
      lineage.map((ns) => ns.id),
    );
    const ownerIds = new Set(owners.filter((m) => m.accessLevel >= ACCESS.OWNER).map((m) => m.userId));
    return ownerIds.size <= 1;
  }

  private async directMembers(source: MemberSourceRef, filter: MemberFilter): Promise<Membership[]> {
    const [type, id]: [MemberSource, number] = source.type === 'group' ? ['namespace', source.group.id] : ['project', source.project.id];
    const rows = await this.members.listOf(type, [id], filter);
    const synthetic = source.type === 'project' ? await this.personalOwner(source.project, filter) : undefined;
    if (synthetic && !rows.some((row) => row.userId === synthetic.userId)) rows.unshift(synthetic);
    return this.withUsers(rows);
  }

  private async effectiveMembers(source: MemberSourceRef, filter: MemberFilter): Promise<Membership[]> {
    const lineage = source.type === 'group' ? await this.directory.lineageOf(source.group) : await this.directory.projectLineage(source.project);
    const rows = await this.members.listOf(
      'namespace',
      lineage.filter((ns) => ns.kind === 'group').map((ns) => ns.id),
      filter,
    );
    if (source.type === 'project') {
      rows.push(...(await this.members.listOf('project', [source.project.id], filter)));
      const synthetic = await this.personalOwner(source.project, filter);
      if (synthetic) rows.push(synthetic);
    }
    const best = new Map<number, Member>();
    for (const row of rows) {
      const current = best.get(row.userId);
      if (!current || row.accessLevel > current.accessLevel) best.set(row.userId, row);
    }
    return this.withUsers([...best.values()].sort((a, b) => a.userId - b.userId));
  }

  /** The owner of a personal project's namespace, as GitLab's stored Owner membership (id 0: not stored here). */
  private async personalOwner(project: Project, filter: MemberFilter): Promise<Member | undefined> {
    const lineage = await this.directory.projectLineage(project);
    const namespace = lineage[lineage.length - 1];
    if (namespace?.kind !== 'user' || namespace.ownerId === null) return undefined;
    if (filter.userIds && !filter.userIds.includes(namespace.ownerId)) return undefined;
    if (filter.query) {
      const user = await this.users.findById(namespace.ownerId);
      const query = filter.query.toLowerCase();
      if (!user || !(user.username.toLowerCase().includes(query) || user.name.toLowerCase().includes(query))) return undefined;
    }
    return {
      id: 0,
      sourceType: 'project',
      sourceId: project.id,
      userId: namespace.ownerId,
      accessLevel: ACCESS.OWNER,
      createdAt: project.createdAt,
      expiresAt: null,
    };
  }

  private async withUsers(rows: readonly Member[]): Promise<Membership[]> {
    const users = await Promise.all(rows.map((row) => this.users.findById(row.userId)));
    return rows.flatMap((member, i) => (users[i] ? [{ user: users[i]!, member }] : []));
  }
}
