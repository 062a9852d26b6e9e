import { z, NOT_A_VALID_VALUE, p, callerOf, noContent, paginationShape, respondWithPage, routeFor, type GatehouseContext } from 'gatehouse';
import type { KubernetesAgentServices } from './services.js';
import { presentAlert, presentVulnerability } from './presenter.js';
import { KNOWN_COUNTERS, KNOWN_UNIQUE_COUNTERS } from './service.js';
import { requestAgent } from './strategy.js';

const route = routeFor<KubernetesAgentServices>();

const count = p.integer().optional();
const ids = z.array(p.integer()).optional();

/**
 * Both usage bodies: the original `{"gitops_sync_count","k8s_api_proxy_request_count"}` and the current
 * `counters` / `unique_counters` hashes. Undeclared counter names are ignored, as GitLab slices them out.
 */
const UsageMetrics = z.object({
  gitops_sync_count: count,
  k8s_api_proxy_request_count: count,
  counters: z.object(Object.fromEntries(KNOWN_COUNTERS.map((name) => [name, count])) as Record<(typeof KNOWN_COUNTERS)[number], typeof count>).nullish(),
  unique_counters: z.object(Object.fromEntries(KNOWN_UNIQUE_COUNTERS.map((name) => [name, ids])) as Record<(typeof KNOWN_UNIQUE_COUNTERS)[number], typeof ids>).nullish(),
});

const CiliumAlert = z.object({ alert: z.record(z.string(), z.unknown()) });

/** The security report schema's levels; a report is stored with them lower-cased. */
const SEVERITIES = new Set(['info', 'unknown', 'low', 'medium', 'high', 'critical']);
const CONFIDENCES = new Set(['ignore', 'unknown', 'experimental', 'low', 'medium', 'high', 'confirmed']);

/** A string naming one of the levels, in any case (`Critical`, `critical`). */
const oneOfIgnoringCase = (levels: ReadonlySet<string>) => p.string().refine((value) => levels.has(value.toLowerCase()), { error: NOT_A_VALID_VALUE });

/**
 * A Starboard report in either shape: the original (`confidence` required, `scanner.vendor` a string)
 * and the current KAS one (`confidence` optional, `scanner.vendor` an object `{name}`). Unknown
 * fields of the vulnerability are kept.
 */
const StarboardVulnerability = z.object({
  vulnerability: z.looseObject({
    name: p.string(),
    severity: oneOfIgnoringCase(SEVERITIES),
    confidence: oneOfIgnoringCase(CONFIDENCES).optional(),
    location: z.record(z.string(), z.unknown()),
    identifiers: z.array(z.looseObject({ type: p.string(), name: p.string(), value: p.string().optional(), url: p.string().optional() })),
    message: p.string().optional(),
    description: p.string().optional(),
    solution: p.string().optional(),
    links: z.array(z.unknown()).optional(),
  }),
  scanner: z.object({
    id: p.string(),
    name: p.string(),
    // The original docs' string and current KAS's `{name}` both become `{name}`.
    vendor: z.preprocess((v) => (typeof v === 'string' ? { name: v } : v), z.object({ name: p.string() })).optional(),
  }),
});

const ProjectRef = z.object({ id: p.string(), ...paginationShape });

async function agentInfo(ctx: GatehouseContext, services: KubernetesAgentServices) {
  ctx.body = await services.agents.agentInfo(requestAgent(ctx));
}

/** The endpoints KAS calls (`lib/api/internal/kubernetes.rb` and its EE modules). */
export const internalRoutes = [
  route({
    name: 'kubernetes-agent.agent-info',
    method: 'GET',
    path: '/api/v4/internal/kubernetes/agent_info',
    auth: { strategy: 'kas_agent' },
    handler: (ctx, _input, services) => agentInfo(ctx, services),
  }),
  route({
    name: 'kubernetes-agent.agentk.agent-info',
    method: 'GET',
    path: '/api/v4/internal/agents/agentk/agent_info',
    auth: { strategy: 'kas_agent' },
    handler: (ctx, _input, services) => agentInfo(ctx, services),
  }),
  route({
    name: 'kubernetes-agent.project-info',
    method: 'GET',
    path: '/api/v4/internal/kubernetes/project_info',
    auth: { strategy: 'kas_agent' },
    // No schema: GitLab declares no params here; an id that finds nothing is its 404.
    async handler(ctx, _input, services) {
      ctx.body = await services.agents.projectInfo(requestAgent(ctx), ctx.state.params.id);
    },
  }),
  route({
    name: 'kubernetes-agent.verify-project-access',
    method: 'GET',
    path: '/api/v4/internal/kubernetes/verify_project_access',
    auth: { strategy: 'kas_agent' },
    async handler(ctx, _input, services) {
      await services.agents.accessibleProject(requestAgent(ctx), ctx.state.params.id);
      noContent(ctx);
    },
  }),
  route({
    name: 'kubernetes-agent.usage-metrics',
    method: 'POST',
    path: '/api/v4/internal/kubernetes/usage_metrics',
    // KAS reports usage for itself, not for an agent: the JWT alone.
    auth: { strategy: 'kas' },
    input: UsageMetrics,
    async handler(ctx, input, services) {
      await services.agents.recordUsage(input);
      noContent(ctx);
    },
  }),
  route({
    name: 'kubernetes-agent.cilium-alert',
    method: 'POST',
    path: '/api/v4/internal/kubernetes/modules/cilium_alert',
    auth: { strategy: 'kas_agent' },
    input: CiliumAlert,
    async handler(ctx, input, services) {
      await services.agents.recordCiliumAlert(requestAgent(ctx), input.alert);
      // GitLab answers `status result.http_status`, whose value Grape renders as the body: `200`.
      ctx.status = 200;
      ctx.type = 'application/json';
      ctx.body = '200';
    },
  }),
  route({
    name: 'kubernetes-agent.starboard-vulnerability',
    method: 'PUT',
    path: '/api/v4/internal/kubernetes/modules/starboard_vulnerability',
    auth: { strategy: 'kas_agent' },
    input: StarboardVulnerability,
    async handler(ctx, input, services) {
      const vulnerability = await services.agents.recordStarboardVulnerability(requestAgent(ctx), input);
      ctx.body = { uuid: vulnerability.uuid };
    },
  }),
];

/** Where people read what KAS reported: a project's Cilium alerts and Starboard vulnerabilities. */
export const reportRoutes = [
  route({
    name: 'kubernetes-agent.alerts.list',
    method: 'GET',
    path: '/api/v4/projects/:id/alert_management_alerts',
    auth: { strategy: 'token' },
    input: ProjectRef,
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const project = await services.agents.project(viewer, input.id);
      await respondWithPage(ctx, services.externalUrl, input, async (window) => {
        const { alerts, total } = await services.agents.listAlerts(viewer, project, window);
        return { items: alerts.map(presentAlert), total };
      });
    },
  }),
  route({
    name: 'kubernetes-agent.vulnerabilities.list',
    method: 'GET',
    path: '/api/v4/projects/:id/vulnerabilities',
    auth: { strategy: 'token' },
    input: ProjectRef,
    async handler(ctx, input, services) {
      const viewer = callerOf(ctx);
      const project = await services.agents.project(viewer, input.id);
      await respondWithPage(ctx, services.externalUrl, input, async (window) => {
        const { vulnerabilities, total } = await services.agents.listVulnerabilities(viewer, project, window);
        return { items: vulnerabilities.map(presentVulnerability), total };
      });
    },
  }),
];
