import { randomUUID } from 'node:crypto';
import { definePlugin } from 'gatehouse';
import { codeSuggestionsConfig } from './config.js';
import { GraphqlEndpoint, SWITCH_FLAG } from './graphql.js';
import { AiGatewayUpstream } from './proxy.js';
import { codeSuggestionsRoutes } from './routes.js';
import { CodeSuggestionsService } from './service.js';
import type { CodeSuggestionsServices } from './services.js';

export const codeSuggestionsPlugin = definePlugin({
  name: 'code-suggestions',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'Code Suggestions for GitLab editor extensions: AI gateway tokens, the streaming completions proxy, direct access.',
  dependsOn: ['directory', 'tokens'],
  config: codeSuggestionsConfig,
  flags: [
    {
      name: SWITCH_FLAG,
      kind: 'ops',
      default: true,
      description: 'Code Suggestions for everyone: off makes completions, enabled, direct_access and connection_details answer 404.',
    },
    {
      name: 'code_suggestions_tokens_api',
      kind: 'ops',
      default: true,
      description: 'POST /code_suggestions/tokens (the original API\'s token endpoint): off answers 404.',
    },
    {
      name: 'code_suggestions_context',
      kind: 'release',
      default: true,
      description: 'Pass the context and user_instruction of completion requests on to the AI gateway (off: dropped).',
    },
  ],
  services: (deps): CodeSuggestionsServices => {
    const config = deps.config;
    const instanceId = deps.secrets.ensure(config.instanceIdFile, () => randomUUID()).trim();
    const service = new CodeSuggestionsService({
      config,
      keys: deps.instanceKeys,
      instanceId,
      externalUrl: deps.app.externalUrl,
      version: deps.app.version.version,
      clock: deps.clock,
      flags: deps.flags,
      directory: deps.plugins.directory,
    });
    return {
      service,
      upstream: new AiGatewayUpstream(deps.upstreams, {
        baseUrl: config.aiGatewayUrl,
        timeoutMs: config.upstreamTimeoutMs,
        connections: config.upstreamConnections,
      }),
      graphql: new GraphqlEndpoint(service, deps.app.version.revision, deps.logger),
    };
  },
  routes: codeSuggestionsRoutes,
});
