import test from 'ava';
import { definePlugin } from '../../core/plugins/types.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

// Paths without parameters are found by an exact lookup before the routers; everything the routers
// matched before (HEAD for GET, a trailing slash, parameters) still matches the same.
const things = definePlugin({
  name: 'things',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'Routes whose paths overlap.',
  routes: [
    {
      name: 'things.mine',
      method: 'GET',
      path: '/api/v4/things/mine',
      auth: { strategy: 'none', reason: 'test route' },
      handler(ctx) {
        ctx.body = { route: 'mine' };
      },
    },
    {
      name: 'things.show',
      method: 'GET',
      path: '/api/v4/things/:id',
      auth: { strategy: 'none', reason: 'test route' },
      handler(ctx) {
        ctx.body = { route: 'show', id: ctx.state.params.id };
      },
    },
    {
      name: 'things.create',
      method: 'POST',
      path: '/api/v4/things/mine',
      auth: { strategy: 'none', reason: 'test route' },
      handler(ctx) {
        ctx.status = 201;
        ctx.body = { route: 'create', name: ctx.state.params.name };
      },
    },
  ],
});

let app: TestApp;
test.before(async () => {
  app = await startTestApp({ registry: [things] });
});
test.after.always(async () => {
  await app?.close();
});

test('a static path wins over a parameter matching it; the parameter route serves the rest', async (t) => {
  const mine = await app.request('/api/v4/things/mine');
  t.is(mine.status, 200);
  t.deepEqual(mine.body, { route: 'mine' });
  const show = await app.request('/api/v4/things/7');
  t.deepEqual(show.body, { route: 'show', id: '7' });
});

test('the method decides: POST to the same static path reaches its own route, with its body', async (t) => {
  const created = await app.request('/api/v4/things/mine', { method: 'POST', body: { name: 'x' } });
  t.is(created.status, 201);
  t.deepEqual(created.body, { route: 'create', name: 'x' });
  const deleted = await app.request('/api/v4/things/mine', { method: 'DELETE' });
  t.is(deleted.status, 404);
  t.deepEqual(deleted.body, { error: '404 Not Found' });
});

test('HEAD and a trailing slash reach the static route; paths are case-sensitive, as GitLab\'s are', async (t) => {
  const head = await fetch(`${app.url}/api/v4/things/mine`, { method: 'HEAD' });
  t.is(head.status, 200);
  t.is(await head.text(), '');
  t.deepEqual((await app.request('/api/v4/things/mine/')).body, { route: 'mine' });
  const upper = await app.request('/API/V4/Things/Mine');
  t.is(upper.status, 404);
  t.deepEqual(upper.body, { error: '404 Not Found' });
  t.deepEqual((await app.request('/api/v4/things/mine?x=1')).body, { route: 'mine' });
});
