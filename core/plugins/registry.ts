import { ApiError as PublicApiError } from 'gatehouse';
import { ApiError } from '../errors.js';
import type { AnyPluginManifest } from './types.js';
import { directoryPlugin } from '../../plugins/directory/manifest.js';
import { tokensPlugin } from '../../plugins/tokens/manifest.js';
import { internalApiPlugin } from '../../plugins/internal-api/manifest.js';
import { oauthApplicationsPlugin } from '../../plugins/oauth-applications/manifest.js';
import { subscriptionsPlugin } from '../../plugins/subscriptions/manifest.js';
import { kubernetesAgentPlugin } from '../../plugins/kubernetes-agent/manifest.js';
import { codeSuggestionsPlugin } from '../../plugins/code-suggestions/manifest.js';
import { oauthProviderPlugin } from '../../plugins/oauth-provider/manifest.js';
import { proxyPlugin } from '../../plugins/proxy/manifest.js';

/**
 * Every plugin shipped with gatehouse. The only place the core imports plugins: config decides which
 * of them are enabled.
 */
export const registry: readonly AnyPluginManifest[] = [directoryPlugin, tokensPlugin, internalApiPlugin, codeSuggestionsPlugin, oauthApplicationsPlugin, oauthProviderPlugin, kubernetesAgentPlugin, subscriptionsPlugin, proxyPlugin];

/**
 * Plugins reach core through the package name. TypeScript sources run under tsx must resolve it with
 * `--conditions=development`; otherwise it names the built dist/, a second copy of core whose errors
 * this one would not recognise (every 4xx a plugin throws would answer 500).
 */
if (PublicApiError !== ApiError) {
  throw new Error("gatehouse: the 'gatehouse' package resolves to a second copy of core; run TypeScript sources with node --conditions=development --import tsx");
}
