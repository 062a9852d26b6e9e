import { z, p, callerOf, created, routeFor, type GatehouseContext } from 'gatehouse';
import type { DirectoryServices } from './services.js';
import { viewerOf } from './groups-routes.js';
import { VISIBILITIES, type Namespace } from './namespaces-repository.js';
import type { Project } from './projects-repository.js';
import { presentGroup, presentMember, presentProject, presentProjectDeployKey } from './projects-presenter.js';

const route = routeFor<DirectoryServices>();

/** Grape's `at_least_one_of` message. */

/** `:id` is a numeric id or a URL-encoded full path (`group%2Fproject`); the router decodes it. */
const id = p.string();
const visibility = p.values(VISIBILITIES);
/** Any integer: a level outside GitLab's is the model's 400 (`is not included in the list`), after the permission check. */
const accessLevel = p.integer();

const GroupRef = z.object({ id });
const CreateGroup = z.object({
  name: p.string(),
  path: p.string(),
  parent_id: p.integer().optional(),
  visibility: visibility.optional(),
  description: p.string().optional(),
  code_suggestions: p.boolean().optional(),
});
const UpdateGroup = z.object({
  id,
  name: p.string().optional(),
  description: p.string().optional(),
  visibility: visibility.optional(),
  code_suggestions: p.boolean().optional(),
});
const ProjectRef = z.object({ id });
const CreateProject = z.object({
  name: p.string().optional(),
  path: p.string().optional(),
  namespace_id: p.integer().optional(),
  visibility: visibility.optional(),
  description: p.string().optional(),
  default_branch: p.string().optional(),
});
const UpdateProject = z.object({
  id,
  name: p.string().optional(),
  description: p.string().optional(),
  visibility: visibility.optional(),
  default_branch: p.string().optional(),
});
const AddDeployKey = z.object({
  id,
  title: p.string(),
  key: p.string(),
  can_push: p.boolean().optional(),
  expires_at: p.datetime().optional(),
});
const AddMember = z.object({
  id,
  access_level: accessLevel,
  user_id: p.integer().optional(),
  username: p.string().optional(),
});

const blank = (value: unknown) => value === undefined || value === null || value === '';

/** The member to add: by id or by username (Grape's `at_least_one_of`, declared after the params). */
const ONE_MEMBER = [{ rule: 'at_least_one_of', names: ['user_id', 'username'] }] as const;

async function groupBody(services: DirectoryServices, group: Namespace) {
  return presentGroup(group, await services.projects.lineageOf(group), services.externalUrl);
}

async function projectBody(ctx: GatehouseContext, services: DirectoryServices, project: Project) {
  const lineage = await services.projects.projectLineage(project);
  return presentProject(project, lineage, services.externalUrl, { admin: viewerOf(ctx)?.isAdmin ?? false });
}

/**
 * `POST /groups/:id/members` and `POST /projects/:id/members`: the same request on either source;
 * who may add whom is the service's rule for that source.
 */
function memberRoute(source: 'group' | 'project') {
  return route({
    name: `directory.${source}s.members.create`,
    method: 'POST',
    path: `/api/v4/${source}s/:id/members`,
    auth: { strategy: 'token' },
    input: AddMember,
    inputGroups: ONE_MEMBER,
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const member = { userId: input.user_id, username: input.username, accessLevel: input.access_level };
      const membership =
        source === 'group'
          ? await services.projects.addGroupMember(viewer, await services.projects.visibleGroup(viewer, input.id), member)
          : await services.projects.addProjectMember(viewer, await services.projects.visibleProject(viewer, input.id), member);
      created(ctx, presentMember(membership, services.externalUrl));
    },
  });
}

const groupRoutes = [
  route({
    name: 'directory.groups.create',
    method: 'POST',
    path: '/api/v4/groups',
    auth: { strategy: 'token' },
    input: CreateGroup,
    async handler(ctx, input, services) {
      const group = await services.projects.createGroup(callerOf(ctx), {
        name: input.name,
        path: input.path,
        parentId: input.parent_id,
        visibility: input.visibility,
        description: input.description,
        codeSuggestions: input.code_suggestions,
      });
      created(ctx, await groupBody(services, group));
    },
  }),
  route({
    name: 'directory.groups.show',
    method: 'GET',
    path: '/api/v4/groups/:id',
    // GitLab's groups API reads without a token (`authenticate_non_get!`): public groups.
    auth: { strategy: 'optional_token' },
    input: GroupRef,
    async handler(ctx, input, services) {
      const group = await services.projects.visibleGroup(viewerOf(ctx), input.id);
      ctx.body = await groupBody(services, group);
    },
  }),
  route({
    name: 'directory.groups.update',
    method: 'PUT',
    path: '/api/v4/groups/:id',
    auth: { strategy: 'token' },
    input: UpdateGroup,
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const group = await services.projects.visibleGroup(viewer, input.id);
      const updated = await services.projects.updateGroup(viewer, group, {
        name: input.name,
        description: input.description,
        visibility: input.visibility,
        codeSuggestions: input.code_suggestions,
      });
      ctx.body = await groupBody(services, updated);
    },
  }),
  memberRoute('group'),
];

/** `POST /projects/:id/archive` and `/unarchive`: the same route but for the state it sets. */
function archiveRoute(archived: boolean) {
  const action = archived ? 'archive' : 'unarchive';
  return route({
    name: `directory.projects.${action}`,
    method: 'POST',
    path: `/api/v4/projects/:id/${action}`,
    auth: { strategy: 'token' },
    input: ProjectRef,
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const project = await services.projects.visibleProject(viewer, input.id);
      created(ctx, await projectBody(ctx, services, await services.projects.archive(viewer, project, archived)));
    },
  });
}

const projectRoutes = [
  route({
    name: 'directory.projects.create',
    method: 'POST',
    path: '/api/v4/projects',
    auth: { strategy: 'token' },
    input: CreateProject,
    inputGroups: [{ rule: 'at_least_one_of', names: ['name', 'path'] }],
    async handler(ctx, input, services) {
      const project = await services.projects.createProject(callerOf(ctx), {
        name: blank(input.name) ? undefined : input.name,
        path: blank(input.path) ? undefined : input.path,
        namespaceId: input.namespace_id,
        visibility: input.visibility,
        description: input.description,
        defaultBranch: input.default_branch,
      });
      created(ctx, await projectBody(ctx, services, project));
    },
  }),
  route({
    name: 'directory.projects.show',
    method: 'GET',
    path: '/api/v4/projects/:id',
    // GitLab's projects API reads without a token (`authenticate_non_get!`): public projects.
    auth: { strategy: 'optional_token' },
    input: ProjectRef,
    async handler(ctx, input, services) {
      const project = await services.projects.visibleProject(viewerOf(ctx), input.id);
      ctx.body = await projectBody(ctx, services, project);
    },
  }),
  route({
    name: 'directory.projects.update',
    method: 'PUT',
    path: '/api/v4/projects/:id',
    auth: { strategy: 'token' },
    input: UpdateProject,
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const project = await services.projects.visibleProject(viewer, input.id);
      const updated = await services.projects.updateProject(viewer, project, {
        name: input.name,
        description: input.description,
        visibility: input.visibility,
        defaultBranch: input.default_branch,
      });
      ctx.body = await projectBody(ctx, services, updated);
    },
  }),
  archiveRoute(true),
  archiveRoute(false),
  route({
    name: 'directory.projects.deploy-keys.create',
    method: 'POST',
    path: '/api/v4/projects/:id/deploy_keys',
    auth: { strategy: 'token' },
    input: AddDeployKey,
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const project = await services.projects.visibleProject(viewer, input.id);
      const deployKey = await services.projects.addDeployKey(viewer, project, {
        title: input.title,
        key: input.key,
        canPush: input.can_push,
        expiresAt: input.expires_at,
      });
      created(ctx, presentProjectDeployKey(deployKey));
    },
  }),
  memberRoute('project'),
];

/** Groups, projects, memberships and deploy keys (GitLab's `/groups` and `/projects` APIs, the parts gatehouse keeps). */
export const projectsRoutes = [...groupRoutes, ...projectRoutes];
