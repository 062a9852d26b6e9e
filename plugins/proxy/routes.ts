import { RouteProblems, routeFor, type FlagDefinition, type RouteDefinition } from 'gatehouse';
import { PROXY_METHODS, type ProxyConfig, type ProxyRouteConfig } from './config.js';
import type { ProxyServices } from './services.js';

const route = routeFor<ProxyServices>();

/** The router pattern matching a prefix and everything below it. */
const everythingBelow = (path: string) => `${path}{/*rest}`;

/** Why `url` cannot be an upstream target, or undefined when it can. */
export function upstreamUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'must be an http or https URL';
  if (parsed.username || parsed.password) return 'must not hold credentials';
  if (parsed.search || parsed.hash) return 'must not have a query or fragment';
  return undefined;
}

/** Problems of the routes taken together: names used twice, paths inside one another, bad upstream URLs. */
function configProblems(routes: readonly ProxyRouteConfig[]): string[] {
  const problems: string[] = [];
  routes.forEach((entry, index) => {
    const at = `routes[${index}] (${entry.name})`;
    entry.upstreams.forEach((url, i) => {
      const problem = upstreamUrlProblem(url);
      if (problem) problems.push(`${at}: upstream ${JSON.stringify(url)} ${problem}`);
    });
    routes.slice(0, index).forEach((earlier) => {
      if (earlier.name === entry.name) problems.push(`${at}: name "${entry.name}" is used by another route`);
      const overlap = entry.path === earlier.path || entry.path.startsWith(`${earlier.path}/`) || earlier.path.startsWith(`${entry.path}/`);
      const methods = entry.methods ?? PROXY_METHODS;
      if (overlap && (earlier.methods ?? PROXY_METHODS).some((method) => methods.includes(method))) {
        problems.push(`${at}: path ${entry.path} overlaps route ${earlier.name} (${earlier.path})`);
      }
    });
  });
  return problems;
}

/** One route per method of each configured entry, sharing the entry's rate limit. */
export function proxyRoutes(config: ProxyConfig): RouteDefinition<ProxyServices, any>[] {
  const routes = config.routes.flatMap((entry) =>
    (entry.methods ?? PROXY_METHODS).map((method) =>
      route({
        name: `proxy.${entry.name}.${method.toLowerCase()}`,
        method,
        path: everythingBelow(entry.path),
        summary: `Passed on to ${entry.name} (${entry.path} and below)`,
        auth: entry.auth,
        flag: entry.flag,
        rateLimit: entry.rateLimit && { max: entry.rateLimit.max, windowMs: entry.rateLimit.windowMs, by: entry.rateLimit.by, scope: `proxy.${entry.name}` },
        rawBody: true,
        handler: (ctx, _input, services) => services.routes.get(entry.name)!.forward(ctx),
      }),
    ),
  );
  const problems = configProblems(config.routes);
  if (problems.length) throw new RouteProblems(problems, routes);
  return routes;
}

/** The flags the routes name, declared on by default (Unleash switches a route off: 404). */
export function proxyFlags(config: ProxyConfig): FlagDefinition[] {
  const byName = new Map<string, FlagDefinition>();
  for (const entry of config.routes) {
    if (!entry.flag || byName.has(entry.flag)) continue;
    byName.set(entry.flag, { name: entry.flag, kind: 'ops', default: true, description: `Proxy route ${entry.name} (${entry.path}): off answers 404.` });
  }
  return [...byName.values()];
}
