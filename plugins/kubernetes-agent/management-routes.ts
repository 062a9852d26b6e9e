import { z, p, callerOf, created, noContent, paginationShape, respondWithPage, routeFor } from 'gatehouse';
import type { KubernetesAgentServices } from './services.js';
import { presentAgent, presentAgentToken, presentAgentTokenBasic, presentAgentTokenWithSecret, presentProjectIdentity } from './presenter.js';
import type { Agent } from './repository.js';
import type { Project } from './types.js';

const route = routeFor<KubernetesAgentServices>();

/** `:id` is a numeric id or a URL-encoded full path, as on directory's project routes. */
const id = p.string();
const agentId = p.integer();
const ProjectRef = z.object({ id, ...paginationShape });
const AgentRef = z.object({ id, agent_id: agentId });
const AgentTokensRef = z.object({ id, agent_id: agentId, ...paginationShape });
const TokenRef = z.object({ id, agent_id: agentId, token_id: p.integer() });
const CreateAgent = z.object({ id, name: p.string() });
const CreateToken = z.object({ id, agent_id: agentId, name: p.string(), description: p.string().optional() });

async function agentsBody(services: KubernetesAgentServices, project: Project, agents: Agent[]) {
  const lineage = await services.agents.directory.projects.projectLineage(project);
  const identity = presentProjectIdentity(project, lineage.map((ns) => ns.name).join(' / '));
  return agents.map((agent) => presentAgent(agent, identity));
}

/** GitLab's cluster agents API (`lib/api/clusters/agents.rb`, `agent_tokens.rb`). */
export const managementRoutes = [
  route({
    name: 'kubernetes-agent.agents.list',
    method: 'GET',
    path: '/api/v4/projects/:id/cluster_agents',
    auth: { strategy: 'token' },
    input: ProjectRef,
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const project = await services.agents.project(viewer, input.id);
      await respondWithPage(ctx, services.externalUrl, input, async (window) => {
        const { agents, total } = await services.agents.listAgents(viewer, project, window);
        return { items: await agentsBody(services, project, agents), total };
      });
    },
  }),
  route({
    name: 'kubernetes-agent.agents.show',
    method: 'GET',
    path: '/api/v4/projects/:id/cluster_agents/:agent_id',
    auth: { strategy: 'token' },
    input: AgentRef,
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const project = await services.agents.project(viewer, input.id);
      const agent = await services.agents.findAgent(viewer, project, input.agent_id);
      ctx.body = (await agentsBody(services, project, [agent]))[0];
    },
  }),
  route({
    name: 'kubernetes-agent.agents.create',
    method: 'POST',
    path: '/api/v4/projects/:id/cluster_agents',
    auth: { strategy: 'token' },
    input: CreateAgent,
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const project = await services.agents.project(viewer, input.id);
      const agent = await services.agents.createAgent(viewer, project, input.name);
      created(ctx, (await agentsBody(services, project, [agent]))[0]);
    },
  }),
  route({
    name: 'kubernetes-agent.agents.delete',
    method: 'DELETE',
    path: '/api/v4/projects/:id/cluster_agents/:agent_id',
    auth: { strategy: 'token' },
    input: AgentRef,
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const project = await services.agents.project(viewer, input.id);
      await services.agents.deleteAgent(viewer, project, input.agent_id);
      noContent(ctx);
    },
  }),
  route({
    name: 'kubernetes-agent.tokens.list',
    method: 'GET',
    path: '/api/v4/projects/:id/cluster_agents/:agent_id/tokens',
    auth: { strategy: 'token' },
    input: AgentTokensRef,
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const project = await services.agents.project(viewer, input.id);
      await respondWithPage(ctx, services.externalUrl, input, async (window) => {
        const { tokens, total } = await services.agents.listTokens(viewer, project, input.agent_id, window);
        return { items: tokens.map(presentAgentTokenBasic), total };
      });
    },
  }),
  route({
    name: 'kubernetes-agent.tokens.show',
    method: 'GET',
    path: '/api/v4/projects/:id/cluster_agents/:agent_id/tokens/:token_id',
    auth: { strategy: 'token' },
    input: TokenRef,
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const project = await services.agents.project(viewer, input.id);
      ctx.body = presentAgentToken(await services.agents.findToken(viewer, project, input.agent_id, input.token_id));
    },
  }),
  route({
    name: 'kubernetes-agent.tokens.create',
    method: 'POST',
    path: '/api/v4/projects/:id/cluster_agents/:agent_id/tokens',
    auth: { strategy: 'token' },
    input: CreateToken,
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const project = await services.agents.project(viewer, input.id);
      const { token, plaintext } = await services.agents.createToken(viewer, project, input.agent_id, {
        name: input.name,
        description: input.description,
      });
      created(ctx, presentAgentTokenWithSecret(token, plaintext));
    },
  }),
  route({
    name: 'kubernetes-agent.tokens.revoke',
    method: 'DELETE',
    path: '/api/v4/projects/:id/cluster_agents/:agent_id/tokens/:token_id',
    auth: { strategy: 'token' },
    input: TokenRef,
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const project = await services.agents.project(viewer, input.id);
      await services.agents.revokeToken(viewer, project, input.agent_id, input.token_id);
      noContent(ctx);
    },
  }),
];
