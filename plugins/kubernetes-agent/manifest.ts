import { randomBytes } from 'node:crypto';
import { Counter, Gauge } from 'prom-client';
import { z, definePlugin, randomHex, type PluginDeps } from 'gatehouse';
import { createKubernetesAgent } from './migrations/20261201000000_create_kubernetes_agent.js';
import { decodeKasSecret, KAS_SECRET_BYTES } from './kas-jwt.js';
import { KubernetesAgentRepository } from './repository.js';
import { KubernetesAgentService } from './service.js';
import { kasAgentStrategy, kasStrategy } from './strategy.js';
import { internalRoutes, reportRoutes } from './internal-routes.js';
import { managementRoutes } from './management-routes.js';
import type { KubernetesAgentServices } from './services.js';

const config = z.object({
  secretFile: z
    .string()
    .default('.gitlab_kas_secret')
    .describe(
      "The KAS secret file in GitLab's .gitlab_kas_secret format: base64 of 32 bytes (relative to dataDir; generated when absent). Point KAS's gitlab.authentication_secret_file at the same file.",
    ),
  gitalyAddress: z.string().min(1).default('tcp://127.0.0.1:8075').describe('Gitaly address handed to KAS in agent_info and project_info.'),
  gitalyTokenFile: z
    .string()
    .optional()
    .describe('File holding the Gitaly token handed to KAS (relative to dataDir); without it the token is empty.'),
});

export type KubernetesAgentConfig = z.output<typeof config> & { enabled: boolean };

const KAS_SECRET_FORMAT = `must hold the base64 encoding of exactly ${KAS_SECRET_BYTES} bytes (GitLab's .gitlab_kas_secret format)`;

/** Reads (generating on first boot) the KAS secret; a file GitLab would refuse stops boot. */
function readKasSecret(deps: PluginDeps<KubernetesAgentConfig, 'directory' | 'tokens'>): Buffer {
  const contents = deps.secrets.ensure(deps.config.secretFile, () => randomBytes(KAS_SECRET_BYTES).toString('base64'), {
    check: (value) => (decodeKasSecret(value) ? undefined : KAS_SECRET_FORMAT),
  });
  const secret = decodeKasSecret(contents);
  if (!secret) throw new Error(`plugins.kubernetes-agent.secretFile: ${deps.secrets.pathOf(deps.config.secretFile)} ${KAS_SECRET_FORMAT}`);
  return secret;
}

/**
 * The usage totals on `/-/metrics`, read from the database at scrape time so every instance reports
 * the same shared totals. A failed read leaves them out of that scrape rather than failing it.
 */
function registerUsageMetrics(deps: PluginDeps<KubernetesAgentConfig, 'directory' | 'tokens'>, repository: KubernetesAgentRepository) {
  new Counter({
    name: 'gatehouse_kubernetes_agent_usage_events_total',
    help: 'Usage events KAS reported through /internal/kubernetes/usage_metrics, by counter.',
    labelNames: ['counter'],
    registers: [deps.metrics],
    async collect() {
      try {
        const rows = await repository.counters();
        this.reset();
        for (const row of rows) this.inc({ counter: row.name }, row.value);
      } catch (error) {
        this.reset();
        deps.logger.warn({ err: error }, 'could not read KAS usage counters');
      }
    },
  });
  new Gauge({
    name: 'gatehouse_kubernetes_agent_unique_values',
    help: 'Distinct ids KAS reported in usage_metrics unique_counters, by counter.',
    labelNames: ['counter'],
    registers: [deps.metrics],
    async collect() {
      try {
        const rows = await repository.uniqueCounts();
        this.reset();
        for (const row of rows) this.set({ counter: row.counter }, row.count);
      } catch (error) {
        this.reset();
        deps.logger.warn({ err: error }, 'could not read KAS unique counters');
      }
    },
  });
}

export const kubernetesAgentPlugin = definePlugin({
  name: 'kubernetes-agent',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'The internal API the Kubernetes agent server (KAS) calls, and cluster agent management; provides the kas and kas_agent auth strategies.',
  dependsOn: ['directory', 'tokens'],
  config,
  migrations: { '20261201000000_create_kubernetes_agent': createKubernetesAgent },
  services: (deps): KubernetesAgentServices => {
    const kasSecret = readKasSecret(deps);
    const repository = new KubernetesAgentRepository(deps.db);
    registerUsageMetrics(deps, repository);
    // A removed project takes its agents, their tokens and reports with it, in the same transaction.
    deps.plugins.directory.onProjectDeleted((projectIds, trx) => repository.deleteForProjects(projectIds, trx));
    const tokens = deps.plugins.tokens.tokens;
    return {
      kasSecret,
      externalUrl: deps.app.externalUrl,
      agents: new KubernetesAgentService({
        repository,
        directory: deps.plugins.directory,
        // Agent tokens are stored under the same peppered digest as personal access tokens.
        digest: (token) => tokens.digest(token),
        clock: deps.clock,
        gitaly: {
          address: deps.config.gitalyAddress,
          token: deps.config.gitalyTokenFile ? deps.secrets.ensure(deps.config.gitalyTokenFile, () => randomHex(16)).trim() : '',
        },
        logger: deps.logger,
      }),
    };
  },
  authStrategies: {
    // Usage metrics: KAS speaks for itself, the JWT alone.
    kas: (services) => kasStrategy({ secret: services.kasSecret, clock: services.agents.clock }),
    // Everything done on behalf of an agent: the JWT, then the agent's token.
    kas_agent: (services) => kasAgentStrategy({ secret: services.kasSecret, clock: services.agents.clock, service: services.agents }),
  },
  routes: [...managementRoutes, ...internalRoutes, ...reportRoutes],
});
