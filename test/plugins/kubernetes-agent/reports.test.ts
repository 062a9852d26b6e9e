import test from 'ava';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { FORBIDDEN, UNAUTHORIZED } from '../../helpers/gitlab-errors.js';
import { findingUuid } from '../../../plugins/kubernetes-agent/service.js';
import { agentFixture, KAS_JWT_INVALID, kasHeaders, PROJECT_NOT_FOUND } from './_support.js';

const CILIUM = '/api/v4/internal/kubernetes/modules/cilium_alert';
const STARBOARD = '/api/v4/internal/kubernetes/modules/starboard_vulnerability';

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

/** The example alert of the original internal API docs. */
const DOCS_ALERT = { title: 'minimal', message: 'network problem', evalMatches: [{ value: 1, metric: 'Count', tags: {} }] };

const postAlert = async (agentToken: string | undefined, body: unknown) => app.request(CILIUM, { method: 'POST', headers: await kasHeaders(app, agentToken), body });
const putReport = async (agentToken: string | undefined, body: unknown) => app.request(STARBOARD, { method: 'PUT', headers: await kasHeaders(app, agentToken), body });

/** A report as current KAS sends it (vendor an object), for a container of a workload. */
function currentReport(container = 'nginx', agentId = '1') {
  return {
    vulnerability: {
      name: 'CVE-2021-3711 in libssl1.1',
      severity: 'Critical',
      confidence: 'Unknown',
      location: {
        image: 'nginx:1.21',
        kubernetes_resource: { namespace: 'default', name: 'nginx', kind: 'Deployment', container_name: container, agent_id: agentId },
        dependency: { package: { name: 'libssl1.1' }, version: '1.1.1d-0+deb10u6' },
        operating_system: 'debian 10.10',
      },
      identifiers: [{ type: 'cve', name: 'CVE-2021-3711', value: 'CVE-2021-3711', url: 'https://nvd.nist.gov/vuln/detail/CVE-2021-3711' }],
      description: 'SM2 decryption buffer overflow',
      solution: 'Upgrade libssl1.1 to 1.1.1d-0+deb10u7',
      links: [{ url: 'https://www.openssl.org/news/secadv/20210824.txt' }],
    },
    scanner: { id: 'starboard_trivy', name: 'Trivy (via Starboard Operator)', vendor: { name: 'GitLab' } },
  };
}

// ---------------------------------------------------------------- cilium_alert

test('cilium_alert: 200 (GitLab renders the status as the body), stored against the agent\'s project; a repeat adds an event', async (t) => {
  const f = await agentFixture(app, { agentName: 'cilium' });
  const first = await postAlert(f.agentToken, { alert: DOCS_ALERT });
  t.is(first.status, 200, first.text);
  t.is(first.text, '200');
  const rows = () => app.db('kubernetes_agent_cilium_alerts').where({ project_id: f.project.id }).orderBy('id');
  let stored = await rows();
  t.is(stored.length, 1);
  t.like(stored[0], { agent_id: f.agent.id, title: 'minimal', description: 'network problem', events: 1 });
  t.deepEqual(JSON.parse(stored[0].payload), DOCS_ALERT);

  t.is((await postAlert(f.agentToken, { alert: DOCS_ALERT })).status, 200);
  stored = await rows();
  t.is(stored.length, 1);
  t.is(stored[0].events, 2);

  const policyAlert = { ciliumNetworkPolicy: { metadata: { name: 'deny-egress' } }, flow: { verdict: 'DROPPED' } };
  t.is((await postAlert(f.agentToken, { alert: policyAlert })).status, 200);
  stored = await rows();
  t.is(stored.length, 2);
  t.like(stored[1], { title: 'deny-egress', description: null, events: 1 });
});

test('cilium_alert: 400 alert is missing / alert is invalid; 401 without the JWT or an agent token; nothing stored', async (t) => {
  const f = await agentFixture(app, { agentName: 'cilium-refused' });
  const missing = await postAlert(f.agentToken, {});
  t.is(missing.status, 400);
  t.deepEqual(missing.body, { error: 'alert is missing' });
  const invalid = await postAlert(f.agentToken, { alert: 'down' });
  t.is(invalid.status, 400);
  t.deepEqual(invalid.body, { error: 'alert is invalid' });
  const noToken = await postAlert(undefined, { alert: DOCS_ALERT });
  t.is(noToken.status, 401);
  t.deepEqual(noToken.body, UNAUTHORIZED);
  const noJwt = await app.request(CILIUM, { method: 'POST', headers: { 'Gitlab-Agent-Api-Request': f.agentToken }, body: { alert: DOCS_ALERT } });
  t.deepEqual(noJwt.body, KAS_JWT_INVALID);
  t.deepEqual(await app.db('kubernetes_agent_cilium_alerts').where({ project_id: f.project.id }), []);
});

test('GET /projects/:id/alert_management_alerts: maintainers see the stored alerts; developer 403, outsider 404, anonymous 401', async (t) => {
  const f = await agentFixture(app, { agentName: 'alerts-listed' });
  await postAlert(f.agentToken, { alert: DOCS_ALERT });
  const path = `/api/v4/projects/${f.project.id}/alert_management_alerts`;
  const response = await app.request(path, { token: f.maintainer.plaintext });
  t.is(response.status, 200);
  const row = await app.db('kubernetes_agent_cilium_alerts').where({ project_id: f.project.id }).first();
  const now = app.clock.now().toISOString();
  t.deepEqual(response.body, [
    {
      id: row.id,
      title: 'minimal',
      description: 'network problem',
      status: 'triggered',
      monitoring_tool: 'Cilium',
      events: 1,
      fingerprint: row.fingerprint,
      agent_id: f.agent.id,
      payload: DOCS_ALERT,
      started_at: now,
      created_at: now,
      updated_at: now,
    },
  ]);
  t.is(response.headers.get('x-total'), '1');
  const developer = await app.request(path, { token: f.developer.plaintext });
  t.is(developer.status, 403);
  t.deepEqual(developer.body, FORBIDDEN);
  const outsider = await app.request(path, { token: f.outsider.plaintext });
  t.is(outsider.status, 404);
  t.deepEqual(outsider.body, PROJECT_NOT_FOUND);
  t.is((await app.request(path)).status, 401);
});

// ---------------------------------------------------------------- starboard_vulnerability

test('starboard_vulnerability is idempotent: the same report twice is one vulnerability and the same {"uuid"}', async (t) => {
  const f = await agentFixture(app, { agentName: 'starboard' });
  const first = await putReport(f.agentToken, currentReport());
  t.is(first.status, 200, first.text);
  t.deepEqual(Object.keys(first.body), ['uuid']);
  t.regex(first.body.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const second = await putReport(f.agentToken, currentReport());
  t.deepEqual(second.body, first.body);
  const rows = await app.db('kubernetes_agent_vulnerabilities').where({ project_id: f.project.id });
  t.is(rows.length, 1);
  t.like(rows[0], { uuid: first.body.uuid, agent_id: f.agent.id, name: 'CVE-2021-3711 in libssl1.1', severity: 'critical', confidence: 'unknown' });
  t.is(first.body.uuid, findingUuid(f.project.id, currentReport().vulnerability as never));
});

test('starboard_vulnerability: scanner.vendor as a string (original docs) is the same finding; another container or project is another', async (t) => {
  const f = await agentFixture(app, { agentName: 'vendors' });
  const current = await putReport(f.agentToken, currentReport());
  const original = { ...currentReport(), scanner: { id: 'starboard_trivy', name: 'Trivy', vendor: 'GitLab' } };
  const asString = await putReport(f.agentToken, original);
  t.is(asString.status, 200);
  t.is(asString.body.uuid, current.body.uuid);
  const sidecar = await putReport(f.agentToken, currentReport('sidecar'));
  t.not(sidecar.body.uuid, current.body.uuid);
  t.is((await app.db('kubernetes_agent_vulnerabilities').where({ project_id: f.project.id })).length, 2);

  const elsewhere = await agentFixture(app, { agentName: 'vendors' });
  const other = await putReport(elsewhere.agentToken, currentReport());
  t.not(other.body.uuid, current.body.uuid);
  t.is((await app.db('kubernetes_agent_vulnerabilities').where({ project_id: elsewhere.project.id })).length, 1);

  // An original-era report: a free-form location, confidence required then, vendor a string.
  const legacy = {
    vulnerability: { name: 'CVE-2020-1', severity: 'High', confidence: 'Medium', location: { image: 'alpine:3' }, identifiers: [{ type: 'cve', name: 'CVE-2020-1' }] },
    scanner: { id: 'starboard', name: 'Starboard', vendor: 'Aqua' },
  };
  const legacyFirst = await putReport(f.agentToken, legacy);
  t.is(legacyFirst.status, 200);
  t.deepEqual((await putReport(f.agentToken, legacy)).body, legacyFirst.body);
  t.is((await app.db('kubernetes_agent_vulnerabilities').where({ project_id: f.project.id })).length, 3);
});

test('starboard_vulnerability: Grape 400s name the missing fields; 401 without credentials; nothing stored', async (t) => {
  const f = await agentFixture(app, { agentName: 'starboard-refused' });
  const report = currentReport();
  const cases: Array<[unknown, string]> = [
    [{}, 'vulnerability is missing, scanner is missing'],
    [{ scanner: report.scanner, vulnerability: { ...report.vulnerability, name: undefined } }, 'vulnerability[name] is missing'],
    [{ scanner: report.scanner, vulnerability: { ...report.vulnerability, identifiers: [{ name: 'x' }] } }, 'vulnerability[identifiers][0][type] is missing'],
    [{ scanner: report.scanner, vulnerability: { ...report.vulnerability, location: 'somewhere' } }, 'vulnerability[location] is invalid'],
    [{ vulnerability: report.vulnerability, scanner: { id: 'x', name: 'y', vendor: {} } }, 'scanner[vendor][name] is missing'],
  ];
  for (const [body, error] of cases) {
    const response = await putReport(f.agentToken, body);
    t.is(response.status, 400, error);
    t.deepEqual(response.body, { error }, error);
  }
  t.deepEqual((await putReport(undefined, report)).body, UNAUTHORIZED);
  const noJwt = await app.request(STARBOARD, { method: 'PUT', headers: { 'Gitlab-Agent-Api-Request': f.agentToken }, body: report });
  t.deepEqual(noJwt.body, KAS_JWT_INVALID);
  t.deepEqual(await app.db('kubernetes_agent_vulnerabilities').where({ project_id: f.project.id }), []);
});

test('GET /projects/:id/vulnerabilities: developers and up see the findings; reporter 403, outsider 404, anonymous 401', async (t) => {
  const f = await agentFixture(app, { agentName: 'listed-findings' });
  const { body } = await putReport(f.agentToken, currentReport());
  const path = `/api/v4/projects/${f.project.id}/vulnerabilities`;
  const row = await app.db('kubernetes_agent_vulnerabilities').where({ project_id: f.project.id }).first();
  const now = app.clock.now().toISOString();
  const report = currentReport();
  const expected = [
    {
      id: row.id,
      uuid: body.uuid,
      name: 'CVE-2021-3711 in libssl1.1',
      severity: 'critical',
      confidence: 'unknown',
      report_type: 'cluster_image_scanning',
      state: 'detected',
      description: 'SM2 decryption buffer overflow',
      message: null,
      solution: 'Upgrade libssl1.1 to 1.1.1d-0+deb10u7',
      location: report.vulnerability.location,
      identifiers: report.vulnerability.identifiers,
      links: report.vulnerability.links,
      scanner: report.scanner,
      agent_id: f.agent.id,
      created_at: now,
      updated_at: now,
    },
  ];
  for (const token of [f.maintainer.plaintext, f.developer.plaintext]) {
    const response = await app.request(path, { token });
    t.is(response.status, 200);
    t.deepEqual(response.body, expected);
  }
  const reporter = await createUserWithToken(app, ['api']);
  await app.services.directory.projects.addProjectMember({ ...f.maintainer.user }, f.project, { userId: reporter.user.id, accessLevel: 20 });
  const refused = await app.request(path, { token: reporter.plaintext });
  t.is(refused.status, 403);
  t.deepEqual(refused.body, FORBIDDEN);
  t.deepEqual((await app.request(path, { token: f.outsider.plaintext })).body, PROJECT_NOT_FOUND);
  t.is((await app.request(path)).status, 401);
});

test('concurrent repeats of one alert and one report make one alert with every event, and one vulnerability', async (t) => {
  const f = await agentFixture(app, { agentName: 'concurrent' });
  const alerts = await Promise.all(Array.from({ length: 5 }, () => postAlert(f.agentToken, { alert: DOCS_ALERT })));
  t.true(alerts.every((r) => r.status === 200));
  const stored = await app.db('kubernetes_agent_cilium_alerts').where({ project_id: f.project.id });
  t.is(stored.length, 1);
  t.is(stored[0].events, 5);
  const reports = await Promise.all(Array.from({ length: 5 }, () => putReport(f.agentToken, currentReport())));
  t.is(new Set(reports.map((r) => r.body.uuid)).size, 1);
  t.is((await app.db('kubernetes_agent_vulnerabilities').where({ project_id: f.project.id })).length, 1);
});
