import { ServiceError, UnauthorizedError, type AuthStrategy, type AuthStrategyDocs, type Clock, type GatehouseContext, type Principal } from 'gatehouse';
import { createKasJwtVerifier } from './kas-jwt.js';
import type { Agent } from './repository.js';
import type { KubernetesAgentService } from './service.js';

export const KAS_JWT_HEADER = 'Gitlab-Kas-Api-Request';
/** Where current KAS versions send the agent token; the original docs used `Authorization: Bearer`. */
export const AGENT_TOKEN_HEADER = 'Gitlab-Agent-Api-Request';
export const KAS_JWT_INVALID = 'KAS JWT authentication invalid';
/** The credential `kas_agent` puts on its principals (GitLab's `Clusters::AgentToken`). */
export const AGENT_TOKEN_CREDENTIAL = 'cluster_agent_token';

const KAS_SERVICE = 'gitlab-kas';
const KAS_PRINCIPAL: Principal = Object.freeze({ kind: 'service', service: KAS_SERVICE });

/** The agent whose token authenticated a `kas_agent` route, from the principal the strategy built. */
export function requestAgent(ctx: GatehouseContext): Agent {
  const credential = ctx.state.principal?.credential;
  if (credential?.type !== AGENT_TOKEN_CREDENTIAL) throw new UnauthorizedError();
  return credential.details.agent;
}

/** The agent token a request presents: the current header, else the original docs' Bearer. */
function presentedAgentToken(ctx: GatehouseContext): string | undefined {
  const header = ctx.get(AGENT_TOKEN_HEADER).trim();
  if (header) return header;
  const bearer = /^Bearer\s+(.+)$/i.exec(ctx.get('Authorization'));
  return bearer ? bearer[1].trim() : undefined;
}

export interface KasStrategyOptions {
  /** The decoded 32-byte KAS secret. */
  secret: Buffer;
  clock: Clock;
}

/** KAS's credentials, as the OpenAPI document names them. */
const KAS_SCHEMES: AuthStrategyDocs['schemes'] = {
  kas_jwt: {
    type: 'apiKey',
    in: 'header',
    name: 'Gitlab-Kas-Api-Request',
    description: 'An HS256 JWT signed with the KAS secret, as the Kubernetes agent server sends it.',
  },
  agent_token: {
    type: 'apiKey',
    in: 'header',
    name: 'Gitlab-Agent-Api-Request',
    description: 'A Kubernetes agent token (`glagent-…`), always together with the KAS JWT.',
  },
  agent_token_bearer: {
    type: 'http',
    scheme: 'bearer',
    description: 'A Kubernetes agent token as `Authorization: Bearer`, as the original KAS API sent it; with the KAS JWT.',
  },
};

/**
 * The `kas` strategy: KAS's `Gitlab-Kas-Api-Request` JWT and nothing else (usage metrics). Never a
 * user token: PAT and OAuth lookup is off for these routes, as in GitLab.
 */
export function kasStrategy(options: KasStrategyOptions): AuthStrategy {
  const verify = createKasJwtVerifier(options.secret);
  return {
    openapi: { schemes: KAS_SCHEMES, alternatives: [['kas_jwt']] },
    authenticate(ctx) {
      const jwt = ctx.get(KAS_JWT_HEADER);
      if (!jwt || !verify(jwt, Math.floor(options.clock.now().getTime() / 1000))) throw new ServiceError(401, KAS_JWT_INVALID);
      return KAS_PRINCIPAL;
    },
  };
}

/**
 * The `kas_agent` strategy: the KAS JWT first, then an active agent token (`glagent-…`) naming the
 * agent the call is for. A missing, unknown or revoked token is `401 Unauthorized`.
 */
export function kasAgentStrategy(options: KasStrategyOptions & { service: KubernetesAgentService }): AuthStrategy {
  const kas = kasStrategy(options);
  return {
    openapi: {
      schemes: KAS_SCHEMES,
      alternatives: [
        ['kas_jwt', 'agent_token'],
        ['kas_jwt', 'agent_token_bearer'],
      ],
    },
    async authenticate(ctx, auth) {
      await kas.authenticate(ctx, auth);
      const presented = presentedAgentToken(ctx);
      const found = presented ? await options.service.authenticateAgent(presented) : undefined;
      if (!found) throw new UnauthorizedError();
      return { kind: 'service', service: KAS_SERVICE, credential: { type: AGENT_TOKEN_CREDENTIAL, id: found.token.id, details: found } };
    },
  };
}
