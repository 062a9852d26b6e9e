import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { startTestApp, TEST_DATABASE_URL, TEST_REDIS_URL, type TestApp } from '../../helpers/app.js';
import { agentFixture, KAS_JWT_INVALID, kasJwt } from './_support.js';

const USAGE = '/api/v4/internal/kubernetes/usage_metrics';

async function report(app: TestApp, body: unknown, form?: Record<string, string>) {
  return app.request(USAGE, { method: 'POST', headers: { 'Gitlab-Kas-Api-Request': await kasJwt(app) }, ...(form ? { form } : { body }) });
}

const counters = async (app: TestApp) =>
  Object.fromEntries((await app.db('kubernetes_agent_usage_counters').select('name', 'value')).map((row) => [row.name, Number(row.value)]));
const uniqueValues = async (app: TestApp) =>
  (await app.db('kubernetes_agent_unique_values').select('counter', 'value').orderBy(['counter', 'value'])).map((row) => `${row.counter}:${Number(row.value)}`);

/** The value of one sample on /-/metrics, or undefined when it is not there. */
async function metric(app: TestApp, name: string, counter: string): Promise<number | undefined> {
  const text = (await app.request('/-/metrics')).text;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{counter="${counter}"} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

let shared: TestApp;
test.before(async () => {
  shared = await startTestApp();
});
test.after.always(async () => {
  await shared?.close();
});

test('the original body and the current counters/unique_counters body both answer 204 and add up, also as a form', async (t) => {
  const app = await startTestApp();
  try {
    const original = await report(app, { gitops_sync_count: 10, k8s_api_proxy_request_count: 5 });
    t.is(original.status, 204);
    t.is(original.text, '');
    const current = await report(app, {
      counters: { k8s_api_proxy_request: 2, flux_git_push_notifications_total: 3, k8s_api_proxy_requests_via_user_access: 1, not_a_counter: 7 },
      unique_counters: {
        k8s_api_proxy_requests_unique_users_via_ci_access: [3, 1, 3],
        flux_git_push_notified_unique_projects: [8],
        unknown_unique: [1],
      },
    });
    t.is(current.status, 204);
    const form = await report(app, undefined, { gitops_sync_count: '1', 'counters[k8s_api_proxy_request]': '4' });
    t.is(form.status, 204);
    t.deepEqual(await counters(app), {
      gitops_sync: 11,
      k8s_api_proxy_request: 11,
      flux_git_push_notifications_total: 3,
      k8s_api_proxy_requests_via_user_access: 1,
    });
    // The same ids again count once.
    await report(app, { unique_counters: { k8s_api_proxy_requests_unique_users_via_ci_access: [1, 2] } });
    t.deepEqual(await uniqueValues(app), [
      'flux_git_push_notified_unique_projects:8',
      'k8s_api_proxy_requests_unique_users_via_ci_access:1',
      'k8s_api_proxy_requests_unique_users_via_ci_access:2',
      'k8s_api_proxy_requests_unique_users_via_ci_access:3',
    ]);

    t.is(await metric(app, 'gatehouse_kubernetes_agent_usage_events_total', 'gitops_sync'), 11);
    t.is(await metric(app, 'gatehouse_kubernetes_agent_usage_events_total', 'k8s_api_proxy_request'), 11);
    t.is(await metric(app, 'gatehouse_kubernetes_agent_usage_events_total', 'not_a_counter'), undefined);
    t.is(await metric(app, 'gatehouse_kubernetes_agent_unique_values', 'k8s_api_proxy_requests_unique_users_via_ci_access'), 3);
    t.regex((await app.request('/-/metrics')).text, /# TYPE gatehouse_kubernetes_agent_usage_events_total counter/);
  } finally {
    await app.close();
  }
});

test('zero counts, empty arrays and an empty body are 204 and store nothing', async (t) => {
  const app = await startTestApp();
  try {
    for (const body of [{}, { gitops_sync_count: 0, k8s_api_proxy_request_count: 0 }, { counters: {}, unique_counters: { flux_git_push_notified_unique_projects: [] } }]) {
      t.is((await report(app, body)).status, 204);
    }
    t.deepEqual(await counters(app), {});
    t.deepEqual(await uniqueValues(app), []);
    t.is(await metric(app, 'gatehouse_kubernetes_agent_usage_events_total', 'gitops_sync'), undefined);
  } finally {
    await app.close();
  }
});

test('validation: non-integer counts and non-array unique counters are Grape 400s; negative counts GitLab\'s 400; nothing stored', async (t) => {
  const cases: Array<[unknown, unknown]> = [
    [{ gitops_sync_count: 'string', k8s_api_proxy_request_count: 1 }, { error: 'gitops_sync_count is invalid' }],
    [{ k8s_api_proxy_request_count: 1.5 }, { error: 'k8s_api_proxy_request_count is invalid' }],
    [{ counters: 'all of them' }, { error: 'counters is invalid' }],
    [{ counters: { k8s_api_proxy_request: 'many' } }, { error: 'counters[k8s_api_proxy_request] is invalid' }],
    [{ unique_counters: { flux_git_push_notified_unique_projects: 5 } }, { error: 'unique_counters[flux_git_push_notified_unique_projects] is invalid' }],
    [{ unique_counters: { flux_git_push_notified_unique_projects: ['x'] } }, { error: 'unique_counters[flux_git_push_notified_unique_projects] is invalid' }],
    [{ gitops_sync_count: -1 }, { message: '400 Bad request - gitops_sync count must be greater than or equal to zero' }],
    [{ counters: { k8s_api_proxy_request: 3, flux_git_push_notifications_total: -2 } }, { message: '400 Bad request - flux_git_push_notifications_total count must be greater than or equal to zero' }],
  ];
  for (const [body, expected] of cases) {
    const response = await report(shared, body);
    t.is(response.status, 400, JSON.stringify(body));
    t.deepEqual(response.body, expected, JSON.stringify(body));
  }
  t.deepEqual(await counters(shared), {});
});

test('usage_metrics needs only the KAS JWT: an agent token is not required, and never enough', async (t) => {
  const f = await agentFixture(shared);
  const agentOnly = await shared.request(USAGE, { method: 'POST', headers: { 'Gitlab-Agent-Api-Request': f.agentToken }, body: { gitops_sync_count: 1 } });
  t.is(agentOnly.status, 401);
  t.deepEqual(agentOnly.body, KAS_JWT_INVALID);
  t.deepEqual(await counters(shared), {});
});

test('counters are in the database: they survive a restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-kas-usage-'));
  const config = { db: { client: 'sqlite3', filename: join(dir, 'gatehouse.sqlite3') } };
  try {
    const first = await startTestApp({ config });
    await report(first, { gitops_sync_count: 4 });
    await first.close();
    const second = await startTestApp({ config });
    await report(second, { gitops_sync_count: 2 });
    t.is(await metric(second, 'gatehouse_kubernetes_agent_usage_events_total', 'gitops_sync'), 6);
    await second.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

if (!TEST_DATABASE_URL || !TEST_REDIS_URL) {
  test('multi-instance usage counter tests skipped: they need GATEHOUSE_TEST_DATABASE_URL and GATEHOUSE_TEST_REDIS_URL', (t) => {
    t.pass();
  });
} else {
  test('two instances add to one total, and both report it on /-/metrics', async (t) => {
    const a = await startTestApp();
    const b = await startTestApp({ joining: a });
    try {
      await Promise.all([
        report(a, { counters: { k8s_api_proxy_request: 3 } }),
        report(b, { counters: { k8s_api_proxy_request: 4 } }),
        report(a, { k8s_api_proxy_request_count: 5 }),
        report(b, { unique_counters: { k8s_api_proxy_requests_unique_agents_via_ci_access: [1, 2] } }),
        report(a, { unique_counters: { k8s_api_proxy_requests_unique_agents_via_ci_access: [2, 3] } }),
      ]);
      for (const app of [a, b]) {
        t.is(await metric(app, 'gatehouse_kubernetes_agent_usage_events_total', 'k8s_api_proxy_request'), 12);
        t.is(await metric(app, 'gatehouse_kubernetes_agent_unique_values', 'k8s_api_proxy_requests_unique_agents_via_ci_access'), 3);
      }
    } finally {
      await b.close();
      await a.close();
    }
  });
}
