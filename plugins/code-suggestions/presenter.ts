import type { MintedToken } from './ai-tokens.js';
import type { CodeSuggestionsService } from './service.js';

/** The `CodeSuggestionsAccessToken` entity: `{"access_token","expires_in":3600,"created_at"}`. */
export function presentAccessToken(minted: MintedToken) {
  return { access_token: minted.token, expires_in: minted.expiresAt - minted.issuedAt, created_at: minted.issuedAt };
}

/** `POST /code_suggestions/direct_access` (reference §5.5): `model_details` only when configured. */
export function presentDirectAccess(baseUrl: string, minted: MintedToken, headers: Record<string, string>, model?: { model_provider: string; model_name: string }) {
  return { base_url: baseUrl, token: minted.token, expires_at: minted.expiresAt, headers, ...(model ? { model_details: model } : {}) };
}

/** `POST /code_suggestions/connection_details` (reference §5.6). */
export function presentConnectionDetails(service: CodeSuggestionsService, userId: number, namespaceIds: readonly number[]) {
  return {
    instance_id: service.instanceId,
    instance_version: service.version,
    realm: service.config.realm,
    global_user_id: service.globalUserId(userId),
    host_name: service.hostName,
    feature_enablement_type: service.config.featureEnablementType,
    // Only GitLab.com names the namespaces (its seats live there); self-managed answers [].
    saas_duo_pro_namespace_ids: service.config.realm === 'saas' ? [...namespaceIds] : [],
  };
}
