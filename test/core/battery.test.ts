import test from 'ava';
import { SignJWT } from 'jose';
import { registry } from '../../core/plugins/registry.js';
import { routesOf } from '../../core/plugins/loader.js';
import { ROOT_TOKEN, backendName, startTestApp, type TestApp } from '../helpers/app.js';
import { probesFor, runBattery, type BatteryRoute } from '../helpers/battery.js';
import { FakeAiGateway } from '../helpers/fake-ai-gateway.js';
import { createUserWithToken } from '../helpers/fixtures.js';
import { shellJwt } from '../helpers/shell.js';

/** The core's own routes, which no manifest declares. */
const OPERATIONS_ROUTES: BatteryRoute[] = ['/-/health', '/-/readiness', '/-/metrics', '/-/openapi.json'].map((path) => ({
  name: `core${path}`,
  method: 'GET',
  path,
  auth: { strategy: 'none', reason: 'probe' },
}));

/** Limits out of reach: the battery is about what bad input does, not about 429s. */
const UNLIMITED = 1_000_000;

let app: TestApp;
let fake: FakeAiGateway;

test.before(async () => {
  fake = await FakeAiGateway.start();
  app = await startTestApp({
    config: {
      plugins: {
        'code-suggestions': {
          aiGatewayUrl: fake.url,
          completionsRateLimit: UNLIMITED,
          directAccessRateLimit: UNLIMITED,
          connectionDetailsRateLimit: UNLIMITED,
        },
        'internal-api': { allowedRateLimit: UNLIMITED },
      },
    },
  });
});
test.after.always(async () => {
  await app?.close();
  await fake?.close();
});

const viewerOf = (user: any) => ({ id: user.id, username: user.username, name: user.name, isAdmin: user.isAdmin, state: user.state });

/** Existing records for the well-formed path values: a user, a group, a project with an agent, tokens. */
async function seed(target: TestApp) {
  const { user: root } = await createUserWithToken(target, ['api'], { admin: true });
  const { user } = await createUserWithToken(target, ['api']);
  const owner = viewerOf(root);
  const projects = target.services.directory.projects;
  const group = await projects.createGroup(owner, { name: 'battery group', path: 'battery-group' });
  const project = await projects.createProject(owner, { name: 'battery-project', visibility: 'private' });
  const agents = target.services['kubernetes-agent'].agents;
  const agent = await agents.createAgent(owner, project, 'battery-agent');
  const agentToken = await agents.createToken(owner, project, agent.id, { name: 'battery token' });
  const rootRow = await target.services.directory.users.findByUsername('root');
  const throwaway = await target.services.tokens.tokens.create(rootRow, { name: 'battery throwaway', scopes: ['api'] });
  const impersonation = await target.services.tokens.tokens.create(user, { name: 'impersonation', scopes: ['api'], impersonation: true });
  return { rootRow, user, group, project, agent, agentToken, throwaway, impersonation };
}

/** Path values by parameter, and by resource for `:id` (the segment before it names the resource). */
function pathValues(seeded: Awaited<ReturnType<typeof seed>>) {
  const byResource: Record<string, number> = {
    users: seeded.user.id,
    groups: seeded.group.id,
    projects: seeded.project.id,
    namespaces: seeded.group.id,
    personal_access_tokens: seeded.throwaway.token.id,
  };
  const byParam: Record<string, number> = {
    user_id: seeded.user.id,
    agent_id: seeded.agent.id,
    token_id: seeded.agentToken.token.id,
    target_id: seeded.group.id,
    impersonation_token_id: seeded.impersonation.token.id,
  };
  return (route: BatteryRoute, param: string): string => {
    if (Object.hasOwn(byParam, param)) return String(byParam[param]);
    const resource = /\/([a-z_]+)\/:id\b/.exec(route.path)?.[1];
    return String(resource && Object.hasOwn(byResource, resource) ? byResource[resource] : 1);
  };
}

/** Valid credentials for every strategy a manifest uses; a route that revokes its own token gets a fresh one. */
async function credentialsFor(target: TestApp, seeded: Awaited<ReturnType<typeof seed>>) {
  const now = Math.floor(target.clock.now().getTime() / 1000);
  const kasJwt = await new SignJWT({ iss: 'gitlab-kas', aud: 'gitlab', iat: now, exp: now + 3600 })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(target.services['kubernetes-agent'].kasSecret);
  // The app's clock stands still, so one JWT of each kind stays valid for the whole battery.
  const shellToken = await shellJwt(target);
  // A browser session of the seeded user (createUserWithToken's password), for the web pages.
  const signedIn = await target.services['oauth-provider'].sessions.signIn(seeded.user.username, 'correct-horse-battery', '127.0.0.1');
  const byStrategy: Record<string, Record<string, string>> = {
    none: {},
    token: { 'PRIVATE-TOKEN': ROOT_TOKEN },
    admin: { 'PRIVATE-TOKEN': ROOT_TOKEN },
    optional_token: { 'PRIVATE-TOKEN': ROOT_TOKEN },
    gitlab_shell: { 'Gitlab-Shell-Api-Request': shellToken },
    kas: { 'Gitlab-Kas-Api-Request': kasJwt },
    kas_agent: { 'Gitlab-Kas-Api-Request': kasJwt, 'Gitlab-Agent-Api-Request': seeded.agentToken.plaintext },
    session: { cookie: `_gitlab_session=${signedIn.sessionCookie}` },
  };
  return async (route: BatteryRoute) => {
    if (route.path.includes('/personal_access_tokens/self') && route.method !== 'GET') {
      const fresh = await target.services.tokens.tokens.create(seeded.rootRow, { name: 'battery self', scopes: ['api'] });
      return { 'PRIVATE-TOKEN': fresh.plaintext as string };
    }
    const headers = byStrategy[route.auth.strategy];
    if (!headers) throw new Error(`the battery has no credentials for strategy ${route.auth.strategy} (${route.name})`);
    return headers;
  };
}

function declaredRoutes(): BatteryRoute[] {
  const enabled = new Set(app.gateway.plugins.map((plugin) => plugin.name));
  const routes: BatteryRoute[] = [...OPERATIONS_ROUTES];
  for (const plugin of registry) {
    if (!enabled.has(plugin.name)) throw new Error(`plugin ${plugin.name} is not enabled in the battery's gateway`);
    routes.push(...routesOf(plugin, app.gateway.config.plugins[plugin.name]));
  }
  return routes;
}

test(`malformed requests over every declared route never answer 5xx (${backendName})`, async (t) => {
  const seeded = await seed(app);
  const routes = declaredRoutes();
  const started = Date.now();
  const pathValue = pathValues(seeded);
  const result = await runBattery({ url: app.url, routes, credentials: await credentialsFor(app, seeded), pathValue });
  t.log(`${backendName}: ${result.sent} requests over ${routes.length} routes in ${Date.now() - started} ms; by class ${JSON.stringify(result.byClass)}`);
  for (const failure of result.failures.slice(0, 40)) t.log(`${failure.status} ${failure.method} ${failure.path} [${failure.route} / ${failure.probe}] ${failure.body}`);
  // Every route got every probe of its kind: each path parameter every odd id, every odd query, and every odd body.
  t.deepEqual(Object.fromEntries(result.perRoute), Object.fromEntries(routes.map((route) => [route.name, probesFor(route, pathValue).length])));
  t.is(result.failures.length, 0);
});
