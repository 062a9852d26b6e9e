import test from 'ava';
import { backendName } from '../../helpers/app.js';
import { BAD_GATEWAY, FakeUpstream, refusingUrl, routeConfig, startProxyApp, userWithToken } from './_support.js';

test(`[${backendName}] several upstreams are used round robin`, async (t) => {
  const a = await FakeUpstream.start();
  const b = await FakeUpstream.start();
  const app = await startProxyApp([routeConfig({ upstreams: [a.url, b.url] })]);
  t.teardown(async () => {
    await app.close();
    await a.close();
    await b.close();
  });
  const { plaintext } = await userWithToken(app);
  const order: string[] = [];
  for (let i = 0; i < 6; i++) {
    t.is((await app.request(`/reports/${i}`, { token: plaintext })).status, 200);
    order.push(a.received.some((r) => r.url === `/reports/${i}`) ? 'a' : 'b');
  }
  t.deepEqual(order, ['a', 'b', 'a', 'b', 'a', 'b']);
});

test(`[${backendName}] a target that refuses connections 3 times in a row is skipped; readiness lists each route's live targets`, async (t) => {
  const live = await FakeUpstream.start();
  const refusing = await refusingUrl();
  const app = await startProxyApp([routeConfig({ upstreams: [refusing, live.url] })]);
  t.teardown(async () => {
    await app.close();
    await live.close();
  });
  const { plaintext } = await userWithToken(app, ['api']);
  const readiness = async () => (await app.request('/-/readiness')).body.checks.upstreams.upstreams['proxy.reports'];
  t.deepEqual(await readiness(), { targets: 2, live: [refusing, live.url] });

  // POSTs are not retried: every turn of the refusing target is a 502, until it has refused 3 times.
  const statuses: number[] = [];
  for (let i = 0; i < 10; i++) {
    const response = await app.request(`/reports/${i}`, { method: 'POST', token: plaintext, body: { i } });
    statuses.push(response.status);
    if (response.status === 502) t.deepEqual(response.body, BAD_GATEWAY);
  }
  t.deepEqual(statuses, [502, 200, 502, 200, 502, 200, 200, 200, 200, 200]);
  t.is(live.received.length, 7);
  t.deepEqual(await readiness(), { targets: 2, live: [live.url] });
  const ready = await app.request('/-/readiness');
  // Readiness reports the targets; the gateway itself stays ready.
  t.is(ready.status, 200);
});

test(`[${backendName}] an idempotent request whose connection failed before anything was sent is retried once on the next target`, async (t) => {
  const live = await FakeUpstream.start();
  const refusing = await refusingUrl();
  const app = await startProxyApp([routeConfig({ upstreams: [refusing, live.url] }), routeConfig({ name: 'dead', path: '/dead', upstreams: [refusing, await refusingUrl()] })]);
  t.teardown(async () => {
    await app.close();
    await live.close();
  });
  const { plaintext } = await userWithToken(app, ['api']);
  for (let i = 0; i < 4; i++) {
    for (const method of ['GET', 'DELETE'] as const) {
      const response = await app.request(`/reports/${method}/${i}`, { method, token: plaintext });
      t.is(response.status, 200, `${method} ${i}`);
    }
  }
  t.is(live.received.length, 8);
  const metrics = (await app.request('/-/metrics')).text;
  t.regex(metrics, /gatehouse_upstream_requests_total\{upstream="proxy\.reports",outcome="retried"\} [1-9]/);
  t.regex(metrics, /gatehouse_upstream_requests_total\{upstream="proxy\.reports",outcome="2xx"\} 8/);

  // Only once: with both targets refusing, a GET fails after its retry.
  const dead = await app.request('/dead/x', { token: plaintext });
  t.is(dead.status, 502);
  t.deepEqual(dead.body, BAD_GATEWAY);
  t.regex((await app.request('/-/metrics')).text, /gatehouse_upstream_requests_total\{upstream="proxy\.dead",outcome="retried"\} 1\n/);
});
