import type { AiGatewayUpstream } from './proxy.js';
import type { CodeSuggestionsService } from './service.js';
import type { GraphqlEndpoint } from './graphql.js';

/** What the plugin holds: the service, the AI gateway upstream and the GraphQL endpoint. */
export interface CodeSuggestionsServices {
  service: CodeSuggestionsService;
  upstream: AiGatewayUpstream;
  graphql: GraphqlEndpoint;
}

declare module 'gatehouse' {
  interface PluginServices {
    'code-suggestions': CodeSuggestionsServices;
  }
}
