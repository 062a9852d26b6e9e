import test from 'ava';
import { FakeUpstream, startProxyApp } from './_support.js';
import { startTestApp } from '../../helpers/app.js';
import { PluginLoadError } from '../../../core/plugins/loader.js';

const token = { strategy: 'token', scopes: ['api'] };

/** The problems a boot with these proxy routes is refused with. */
async function bootProblems(routes: Record<string, unknown>[]): Promise<string[]> {
  try {
    const app = await startProxyApp(routes);
    await app.close();
  } catch (error) {
    if (error instanceof PluginLoadError) return error.problems;
    throw error;
  }
  throw new Error('expected boot to fail with a PluginLoadError');
}

test('routes colliding with another plugin, overlapping each other, naming unknown strategies or malformed upstream URLs abort boot, all listed together', async (t) => {
  const fake = await FakeUpstream.start();
  t.teardown(() => fake.close());
  const problems = await bootProblems([
    { name: 'reports', path: '/reports', upstreams: ['not a url', 'ftp://files.example.com', `${fake.url}?x=1`], auth: token },
    { name: 'sub', path: '/reports/admin', methods: ['GET'], upstreams: [fake.url], auth: token },
    { name: 'keys', path: '/oauth/discovery', methods: ['GET'], upstreams: [fake.url], auth: token },
    { name: 'mystery', path: '/mystery', upstreams: [fake.url], auth: { strategy: 'kerberos' } },
    { name: 'reports', path: '/other', upstreams: [fake.url], auth: token },
  ]);
  t.deepEqual(problems, [
    'plugin proxy: routes[0] (reports): upstream "not a url" is not a URL',
    'plugin proxy: routes[0] (reports): upstream "ftp://files.example.com" must be an http or https URL',
    `plugin proxy: routes[0] (reports): upstream "${fake.url}?x=1" must not have a query or fragment`,
    'plugin proxy: routes[1] (sub): path /reports/admin overlaps route reports (/reports)',
    'plugin proxy: routes[4] (reports): name "reports" is used by another route',
    // One problem per entry, not one per method (the proxy makes a route per method).
    'routes proxy.mystery.get, proxy.mystery.post, proxy.mystery.put, proxy.mystery.patch and proxy.mystery.delete (GET, POST, PUT, PATCH and DELETE /mystery{/*rest}) of plugin proxy use unknown auth strategy "kerberos"',
    'duplicate route names proxy.reports.get, proxy.reports.post, proxy.reports.put, proxy.reports.patch and proxy.reports.delete',
    'route proxy.keys.get (GET /oauth/discovery and below) collides with core.jwks (GET /oauth/discovery/keys)',
  ]);
});

test('a route under another plugin\'s route with a parameter, or over core\'s operations, aborts boot naming every route it collides with once', async (t) => {
  const problems = await bootProblems([
    { name: 'user-reports', path: '/api/v4/users/reports', methods: ['GET'], upstreams: ['http://127.0.0.1:9'], auth: token },
    { name: 'project-x', path: '/api/v4/projects/x', methods: ['DELETE'], upstreams: ['http://127.0.0.1:9'], auth: token },
    { name: 'dash', path: '/-', methods: ['GET'], upstreams: ['http://127.0.0.1:9'], auth: token },
  ]);
  const userReports = 'route proxy.user-reports.get (GET /api/v4/users/reports and below) collides with';
  const projectX = 'route proxy.project-x.delete (DELETE /api/v4/projects/x and below) collides with';
  const dash = 'route proxy.dash.get (GET /- and below) collides with';
  t.deepEqual(problems, [
    `${userReports} directory.users.show (GET /api/v4/users/:id)`,
    `${userReports} directory.keys.list-for-user (GET /api/v4/users/:user_id/keys)`,
    `${userReports} directory.keys.show-for-user (GET /api/v4/users/:id/keys/:key_id)`,
    `${userReports} directory.users.projects (GET /api/v4/users/:user_id/projects)`,
    `${userReports} tokens.impersonation-list (GET /api/v4/users/:user_id/impersonation_tokens)`,
    `${userReports} tokens.impersonation-show (GET /api/v4/users/:user_id/impersonation_tokens/:impersonation_token_id)`,
    `${projectX} directory.projects.delete (DELETE /api/v4/projects/:id)`,
    `${projectX} directory.projects.deploy-keys.delete (DELETE /api/v4/projects/:id/deploy_keys/:key_id)`,
    `${projectX} directory.projects.members.delete (DELETE /api/v4/projects/:id/members/:user_id)`,
    `${projectX} kubernetes-agent.agents.delete (DELETE /api/v4/projects/:id/cluster_agents/:agent_id)`,
    `${projectX} kubernetes-agent.tokens.revoke (DELETE /api/v4/projects/:id/cluster_agents/:agent_id/tokens/:token_id)`,
    `${dash} core.health (GET /-/health)`,
    `${dash} core.readiness (GET /-/readiness)`,
    `${dash} core.metrics (GET /-/metrics)`,
    `${dash} core.jwks-alias (GET /-/jwks)`,
    `${dash} core.openapi (GET /-/openapi.json)`,
  ]);
});

test('a route without auth, or public without a reason, is a config error naming its key', async (t) => {
  const error = await t.throwsAsync(
    startProxyApp([
      { name: 'a', path: '/a', upstreams: ['http://127.0.0.1:9'] },
      { name: 'b', path: '/b', upstreams: ['http://127.0.0.1:9'], auth: { strategy: 'none' } },
      { name: 'c', path: '/c/', upstreams: ['http://127.0.0.1:9'], auth: token, methods: ['TRACE'] },
    ]),
  );
  const message = error!.message;
  t.regex(message, /plugins\.proxy\.routes\.0\.auth/);
  t.regex(message, /plugins\.proxy\.routes\.1\.auth.*reason/);
  t.regex(message, /plugins\.proxy\.routes\.2\.path/);
  t.regex(message, /plugins\.proxy\.routes\.2\.methods/);
});

test('without routes the plugin serves nothing and needs no key', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.close());
  t.deepEqual([...app.services.proxy.routes.keys()], []);
  t.is((await app.request('/reports')).status, 404);
});
