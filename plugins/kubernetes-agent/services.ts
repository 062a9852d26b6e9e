import type { Agent, AgentToken } from './repository.js';
import type { KubernetesAgentService } from './service.js';

/** What kubernetes-agent's routes and strategies use. */
export interface KubernetesAgentServices {
  agents: KubernetesAgentService;
  /** The decoded KAS secret the JWTs are signed with. */
  kasSecret: Buffer;
  externalUrl: string;
}

declare module 'gatehouse' {
  interface PluginServices {
    'kubernetes-agent': KubernetesAgentServices;
  }
  /** The `kas_agent` strategy's credential: the agent token and the agent it names. */
  interface CredentialKinds {
    cluster_agent_token: { agent: Agent; token: AgentToken };
  }
}
