import { z } from 'gatehouse';

/** Methods a proxy route may pass on; HEAD goes with GET. */
export const PROXY_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** One operator-configured route: a path prefix passed on to one or more upstream targets. */
export const proxyRouteConfig = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be lower-case letters, digits, - and _')
      .describe('Names the route: route names (proxy.<name>.<method>), logs, metrics, readiness, and the identity JWT\'s aud.'),
    path: z
      .string()
      .regex(/^(\/[A-Za-z0-9._~!$&'+,;=@%-]+)+$/, 'must be an absolute path without parameters or a trailing slash')
      .describe('Path prefix: this path and everything below it is passed on, with its query string.'),
    methods: z
      .array(z.enum(PROXY_METHODS))
      .min(1)
      .optional()
      .describe('Methods passed on (GET also serves HEAD); default all.'),
    upstreams: z.array(z.string()).min(1).describe('Base URLs of the upstream targets (http or https); several are load-balanced round robin.'),
    stripPrefix: z.boolean().default(false).describe('Remove `path` from the front of the path sent upstream.'),
    auth: z
      .object({
        strategy: z.string().min(1).describe('Auth strategy (token, admin, none, …).'),
        scopes: z.array(z.string().min(1)).optional().describe('Token scopes the route accepts (any one of them).'),
        reason: z.string().optional().describe('Why the route is public (required with strategy none).'),
      })
      .strict()
      .refine((auth) => auth.strategy !== 'none' || Boolean(auth.reason?.trim()), { message: 'a public route (strategy none) must give a reason' })
      .describe('How callers authenticate; required on every route.'),
    flag: z
      .string()
      .regex(/^[a-z][a-z0-9_]*$/, 'must be snake_case')
      .optional()
      .describe('Feature flag switching the route (declared by the plugin, default on; off answers 404).'),
    rateLimit: z
      .object({
        max: z.number().int().positive().describe('Requests allowed per window.'),
        windowMs: z.number().int().positive().describe('Window length in milliseconds.'),
        by: z.enum(['user', 'ip']).default('user').describe('Count per user (else per client IP) or per client IP.'),
      })
      .strict()
      .optional()
      .describe('Rate limit over all methods of the route (shared by instances through Redis).'),
    identity: z
      .enum(['jwt', 'headers', 'none'])
      .default('jwt')
      .describe('How the upstream learns who called: a signed JWT in Authorization, X-Gatehouse-* headers, or nothing.'),
    timeoutMs: z.number().int().positive().default(30_000).describe('How long the upstream may take to its first byte (then 504), and may pause while answering.'),
    maxBodyBytes: z.number().int().positive().default(10 * 1024 * 1024).describe('Largest request body passed on, in bytes; larger ones get 413.'),
    connections: z.number().int().positive().default(256).describe('Most connections open to each upstream target at once (kept alive between requests).'),
  })
  .strict();

export type ProxyRouteConfig = z.output<typeof proxyRouteConfig>;

/** The proxy plugin's configuration slice (`plugins.proxy.*`). */
export const proxyConfig = z.object({
  routes: z.array(proxyRouteConfig).default([]).describe('Routes to upstream services (see "Putting your services behind gatehouse").'),
  identityTokenLifetimeS: z.number().int().min(60).default(300).describe('Lifetime of identity JWTs, in seconds (reused per caller until shortly before expiry).'),
  identityTokenCacheSize: z.number().int().min(1).default(10_000).describe('How many callers\' identity JWTs to keep in memory, per route.'),
});

export type ProxyConfig = z.output<typeof proxyConfig> & { enabled: boolean };
