import { z } from 'gatehouse';

/** The code-suggestions plugin's configuration slice (`plugins.code-suggestions.*`). */
export const codeSuggestionsConfig = z.object({
  aiGatewayUrl: z
    .url({ protocol: /^https?$/ })
    .default('http://127.0.0.1:5052')
    .describe('Base URL of the AI gateway completions are proxied to (…/v2/code/completions, …/v2/code/generations).'),
  upstreamTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(55_000)
    .describe('How long the AI gateway may take to answer (to its response headers, and between streamed chunks); then 504.'),
  upstreamConnections: z.number().int().positive().default(64).describe('Keep-alive connections to the AI gateway.'),
  maxBodyBytes: z
    .number()
    .int()
    .positive()
    .default(600_000)
    .describe('Largest completion request forwarded to the AI gateway, in bytes; larger ones get 413.'),
  completionsRateLimit: z.number().int().positive().default(60).describe('Completion requests per minute per user.'),
  directAccessRateLimit: z.number().int().positive().default(10).describe('Direct access token requests per 5 minutes per user.'),
  connectionDetailsRateLimit: z.number().int().positive().default(10).describe('Connection details requests per minute per user.'),
  graphqlRateLimit: z
    .number()
    .int()
    .positive()
    .default(7200)
    .describe('GraphQL requests per hour per user (GitLab\'s default for authenticated API requests).'),
  instanceIdFile: z
    .string()
    .default('.gatehouse_instance_id')
    .describe('File holding this installation\'s instance id sent to the AI gateway (relative to dataDir; generated when absent).'),
  realm: z.enum(['self-managed', 'saas']).default('self-managed').describe('The realm reported to the AI gateway (x-gitlab-realm, gitlab_realm).'),
  featureEnablementType: z
    .string()
    .min(1)
    .default('duo_pro')
    .describe('The add-on reported to the AI gateway as enabling Code Suggestions (x-gitlab-feature-enablement-type).'),
  tokenCacheSize: z.number().int().min(1).default(10_000).describe('How many users\' upstream tokens to keep in memory.'),
  directConnections: z
    .object({
      enabled: z
        .boolean()
        .default(true)
        .describe('Let editors connect to the AI gateway directly (direct_access); off answers 403 and they use the proxy.'),
      baseUrl: z
        .url({ protocol: /^https?$/ })
        .optional()
        .describe('AI gateway URL editors connect to directly (default: aiGatewayUrl).'),
      modelProvider: z.string().optional().describe('model_details.model_provider handed to editors (with modelName).'),
      modelName: z.string().optional().describe('model_details.model_name handed to editors (with modelProvider).'),
    })
    .strict()
    .prefault({})
    .describe('Direct connections from editors to the AI gateway.'),
});

export type CodeSuggestionsConfig = z.output<typeof codeSuggestionsConfig> & { enabled: boolean };
