import { iso } from 'gatehouse';
import type { Agent, AgentToken, CiliumAlert, Vulnerability } from './repository.js';
import type { Project } from './types.js';

/** GitLab's `ProjectIdentity` entity; `fullName` is the namespace chain's names joined by ` / `. */
export function presentProjectIdentity(project: Project, namespaceFullName: string) {
  return {
    id: project.id,
    // As directory's project entity: GitLab's description is null until one is set.
    description: project.description === '' ? null : project.description,
    name: project.name,
    name_with_namespace: `${namespaceFullName} / ${project.name}`,
    path: project.path,
    path_with_namespace: project.fullPath,
    created_at: iso(project.createdAt),
  };
}

/** GitLab's `Clusters::Agent` entity. */
export function presentAgent(agent: Agent, configProject: ReturnType<typeof presentProjectIdentity>) {
  return {
    id: agent.id,
    name: agent.name,
    config_project: configProject,
    created_at: iso(agent.createdAt),
    created_by_user_id: agent.createdByUserId,
  };
}

/** GitLab's `AgentTokenBasic` entity (token listings). */
export function presentAgentTokenBasic(token: AgentToken) {
  return {
    id: token.id,
    name: token.name,
    description: token.description,
    agent_id: token.agentId,
    status: token.status,
    created_at: iso(token.createdAt),
    created_by_user_id: token.createdByUserId,
  };
}

/** GitLab's `AgentToken` entity (a single token). */
export function presentAgentToken(token: AgentToken) {
  return { ...presentAgentTokenBasic(token), last_used_at: iso(token.lastUsedAt) };
}

/** GitLab's `AgentTokenWithToken`: only the create answer carries the plaintext, once. */
export function presentAgentTokenWithSecret(token: AgentToken, plaintext: string) {
  return { ...presentAgentToken(token), token: plaintext };
}

/** A Cilium alert, in the fields of GitLab's alert management alerts. */
export function presentAlert(alert: CiliumAlert) {
  return {
    id: alert.id,
    title: alert.title,
    description: alert.description,
    status: 'triggered',
    monitoring_tool: 'Cilium',
    events: alert.events,
    fingerprint: alert.fingerprint,
    agent_id: alert.agentId,
    payload: alert.payload,
    started_at: iso(alert.startedAt),
    created_at: iso(alert.createdAt),
    updated_at: iso(alert.updatedAt),
  };
}

/** A Starboard vulnerability, in the fields of GitLab's vulnerability findings. */
export function presentVulnerability(vulnerability: Vulnerability) {
  const { vulnerability: report, scanner } = vulnerability.report;
  return {
    id: vulnerability.id,
    uuid: vulnerability.uuid,
    name: vulnerability.name,
    severity: vulnerability.severity,
    confidence: vulnerability.confidence,
    report_type: 'cluster_image_scanning',
    state: 'detected',
    description: report.description ?? null,
    message: report.message ?? null,
    solution: report.solution ?? null,
    location: report.location,
    identifiers: report.identifiers,
    links: report.links ?? [],
    scanner,
    agent_id: vulnerability.agentId,
    created_at: iso(vulnerability.createdAt),
    updated_at: iso(vulnerability.updatedAt),
  };
}
