import type { Clock, Knex } from 'gatehouse';
import { NamespacesRepository, type Namespace, type NamespaceFilter } from './namespaces-repository.js';
import type { ProjectsService } from './projects-service.js';

/** GitLab's Owner access level: owners (and admins) see a group's member and project counts. */
const OWNER = 50;
const GUEST = 10;
/** Any direct membership, whatever its level. */
const ANY_MEMBERSHIP = 0;
/** How many numbered suggestions `exists` tries before falling back to a time-based one (GitLab's Uniquify). */
const NUMBERED_SUGGESTIONS = 4;

/** Who asks: a user id, and whether they are an admin as GitLab checks it for this read. */
export interface NamespaceViewer {
  id: number;
  isAdmin: boolean;
}

/** What a group's entity adds for its owners and admins (GitLab's `admin_group`). */
export interface NamespaceCounts {
  membersCountWithDescendants: number;
  projectsCount: number;
}

/**
 * Namespaces as `/namespaces` shows them: a user's personal namespace and the groups they belong to,
 * the namespace-path check that sign-up and group forms use, and the counts owners see.
 */
export class NamespacesService {
  readonly repository: NamespacesRepository;

  constructor(
    db: Knex,
    private readonly clock: Clock,
    private readonly projects: ProjectsService,
  ) {
    this.repository = new NamespacesRepository(db);
  }

  /**
   * One page of the namespaces a user may list: every namespace for an admin; otherwise their personal
   * namespace and the groups they are a direct member of (`ownedOnly`: of which they are an Owner).
   */
  async list(viewer: NamespaceViewer, filter: Omit<NamespaceFilter, 'ids'> & { ownedOnly?: boolean }, page: { offset: number; limit: number }) {
    if (viewer.isAdmin) return this.repository.list(filter, page);
    const [personal, groups] = await Promise.all([
      this.repository.findUserNamespace(viewer.id),
      this.repository.memberGroupIds(viewer.id, filter.ownedOnly ? OWNER : ANY_MEMBERSHIP),
    ]);
    return this.repository.list({ ...filter, ids: [...(personal ? [personal.id] : []), ...groups] }, page);
  }

  /** A namespace by id or full path that the viewer reads through membership (or as an admin); else undefined. */
  async findReadable(viewer: NamespaceViewer, ref: string): Promise<Namespace | undefined> {
    const namespace = /^\d+$/.test(ref) ? await this.projects.findNamespaceById(Number(ref)) : await this.projects.findNamespaceByPath(ref);
    if (!namespace) return undefined;
    if (viewer.isAdmin) return namespace;
    if (namespace.kind === 'user') return namespace.ownerId === viewer.id ? namespace : undefined;
    return (await this.projects.namespaceAccessLevel(viewer.id, namespace)) >= GUEST ? namespace : undefined;
  }

  /** The counts a group's owners and admins see; undefined for anyone else and for personal namespaces. */
  async countsFor(viewer: NamespaceViewer, namespace: Namespace): Promise<NamespaceCounts | undefined> {
    if (namespace.kind !== 'group') return undefined;
    if (!viewer.isAdmin && (await this.projects.namespaceAccessLevel(viewer.id, namespace)) < OWNER) return undefined;
    const ids = await this.repository.selfAndDescendantIds(namespace.id);
    const [membersCountWithDescendants, projectsCount] = await Promise.all([this.repository.distinctMemberCount(ids), this.repository.projectCount(ids)]);
    return { membersCountWithDescendants, projectsCount };
  }

  /**
   * Whether a namespace with this path exists under `parentId` (top level when null), and if so a free
   * path to suggest: the path made valid, then `1`, `2`, … appended, as GitLab's `Namespace.clean_path`.
   */
  async exists(path: string, parentId: number | null): Promise<{ exists: boolean; suggests: string[] }> {
    if (!(await this.repository.pathTakenUnder(path, parentId))) return { exists: false, suggests: [] };
    const base = cleanPath(path);
    for (let counter = 1; counter <= NUMBERED_SUGGESTIONS; counter++) {
      const candidate = `${base}${counter}`;
      if (!(await this.repository.pathTakenUnder(candidate, parentId))) return { exists: true, suggests: [candidate] };
    }
    return { exists: true, suggests: [`${base}${this.clock.now().getTime() % 10_000_000}`] };
  }
}

/** GitLab's `Namespace.clean_path` without the uniqueness step: a valid path made from any string. */
export function cleanPath(path: string): string {
  const cleaned = path
    .replace(/@.*$/, '')
    .replace(/\.git$/, '')
    .replace(/^-+/, '')
    .replace(/\.+$/, '')
    .replace(/[^a-zA-Z0-9_.-]/g, '-');
  return cleaned === '' ? 'blank' : cleaned;
}
