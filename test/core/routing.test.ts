import test from 'ava';
import { definePlugin } from '../../core/plugins/types.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

// One @koa/router table with its `specificity` rule, and a lookup worked out at boot for the paths
// without parameters: these pin what a request reaches, whichever of the two finds its route.
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
      name: 'things.gadget',
      method: 'GET',
      path: '/api/v4/things/:id/gadgets/:gadget_id',
      auth: { strategy: 'none', reason: 'test route' },
      handler(ctx) {
        ctx.body = { route: 'gadget', id: ctx.state.params.id, gadget_id: ctx.state.params.gadget_id };
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

// Registered parameter first: the static path still wins, whatever the order.
const widgets = definePlugin({
  name: 'widgets',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'A parameterised route declared before the static one it overlaps.',
  routes: [
    {
      name: 'widgets.show',
      method: 'GET',
      path: '/api/v4/widgets/:id',
      auth: { strategy: 'none', reason: 'test route' },
      handler(ctx) {
        ctx.body = { route: 'widget', id: ctx.state.params.id };
      },
    },
    {
      name: 'widgets.latest',
      method: 'GET',
      path: '/api/v4/widgets/latest',
      auth: { strategy: 'none', reason: 'test route' },
      handler(ctx) {
        ctx.body = { route: 'latest' };
      },
    },
  ],
});

/** A route per method taking a whole prefix, as the proxy's are, with routes of the same plugin below one of them. */
const prefixRoute = (name: string, method: 'GET' | 'POST', path: string) => ({
  name: `shelves.${name}`,
  method,
  path,
  auth: { strategy: 'none', reason: 'test route' },
  handler(ctx: { body: unknown; method: string; path: string; state: { params: Record<string, unknown> } }) {
    ctx.body = { route: name, method: ctx.method, rest: ctx.state.params.rest ?? null };
  },
});
const shelves = definePlugin({
  name: 'shelves',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'Routes taking everything below a prefix.',
  routes: [
    prefixRoute('books.get', 'GET', '/shelves/books{/*rest}'),
    prefixRoute('books.post', 'POST', '/shelves/books{/*rest}'),
    // Below this prefix the plugin has its own routes: a static one, and one with as many parameters
    // as the prefix route, which wins the tie by being declared first (the router's rule).
    prefixRoute('maps.latest', 'GET', '/shelves/maps/latest'),
    prefixRoute('maps.sheet', 'GET', '/shelves/maps/:id/sheet'),
    prefixRoute('maps.get', 'GET', '/shelves/maps{/*rest}'),
  ],
});

let app: TestApp;
test.before(async () => {
  app = await startTestApp({ registry: [things, widgets, shelves] });
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

test('a static path wins over a parameter route declared before it', async (t) => {
  t.deepEqual((await app.request('/api/v4/widgets/latest')).body, { route: 'latest' });
  t.deepEqual((await app.request('/api/v4/widgets/latest/')).body, { route: 'latest' });
  t.deepEqual((await app.request('/api/v4/widgets/9')).body, { route: 'widget', id: '9' });
});

test('parameter routes: HEAD, a trailing slash and percent-encoded values, decoded once', async (t) => {
  const head = await fetch(`${app.url}/api/v4/things/7/gadgets/8`, { method: 'HEAD' });
  t.is(head.status, 200);
  t.is(await head.text(), '');
  t.deepEqual((await app.request('/api/v4/things/7/gadgets/8/')).body, { route: 'gadget', id: '7', gadget_id: '8' });
  t.deepEqual((await app.request('/api/v4/things/group%2Fproject')).body, { route: 'show', id: 'group/project' });
  t.deepEqual((await app.request('/api/v4/things/a%25b')).body, { route: 'show', id: 'a%b' });
});

test('a static path matches only as written: case, percent-encoding and empty segments make it another path', async (t) => {
  // Same prefix, other case: not the static route, so the parameter route takes it as an id.
  t.deepEqual((await app.request('/api/v4/things/MINE')).body, { route: 'show', id: 'MINE' });
  // Router paths are not decoded before matching; the parameter's value is.
  t.deepEqual((await app.request('/api/v4/things/mi%6Ee')).body, { route: 'show', id: 'mine' });
  for (const path of ['/api//v4/things/mine', '/api/v4//things/mine', '/api/v4/things//mine', '/api/v4/things/mine/extra']) {
    const missed = await app.request(path);
    t.is(missed.status, 404, path);
    t.deepEqual(missed.body, { error: '404 Not Found' }, path);
  }
});

test('a method no route takes at a path is a 404 in the catch-all shape, for static and parameter paths alike', async (t) => {
  for (const [method, path] of [
    ['PUT', '/api/v4/things/mine'],
    ['POST', '/api/v4/things/7'],
    ['PATCH', '/api/v4/widgets/latest'],
    ['OPTIONS', '/api/v4/things/mine'],
  ]) {
    const answer = await app.request(path, { method });
    t.is(answer.status, 404, `${method} ${path}`);
    t.deepEqual(answer.body, { error: '404 Not Found' }, `${method} ${path}`);
    t.is(answer.headers.get('allow'), null);
  }
});

test('a prefix route takes its prefix and every path below it, by method, with the rest of the path as a parameter', async (t) => {
  t.deepEqual((await app.request('/shelves/books')).body, { route: 'books.get', method: 'GET', rest: null });
  t.deepEqual((await app.request('/shelves/books/')).body, { route: 'books.get', method: 'GET', rest: null });
  t.deepEqual((await app.request('/shelves/books/a/b%20c?x=1')).body, { route: 'books.get', method: 'GET', rest: 'a/b c' });
  const posted = await app.request('/shelves/books/new', { method: 'POST', body: {} });
  t.is(posted.status, 200);
  t.deepEqual(posted.body, { route: 'books.post', method: 'POST', rest: 'new' });
  const head = await fetch(`${app.url}/shelves/books/a`, { method: 'HEAD' });
  t.is(head.status, 200);
  for (const [method, path] of [['DELETE', '/shelves/books/a'], ['GET', '/shelves/booksy'], ['GET', '/Shelves/books/a'], ['GET', '/shelves']]) {
    const missed = await app.request(path, { method });
    t.is(missed.status, 404, `${method} ${path}`);
    t.deepEqual(missed.body, { error: '404 Not Found' }, `${method} ${path}`);
  }
});

test('routes below a prefix route keep their requests: the static path and the parameter route win over the prefix', async (t) => {
  t.deepEqual((await app.request('/shelves/maps/latest')).body, { route: 'maps.latest', method: 'GET', rest: null });
  t.deepEqual((await app.request('/shelves/maps/7/sheet')).body, { route: 'maps.sheet', method: 'GET', rest: null });
  t.deepEqual((await app.request('/shelves/maps/7/other')).body, { route: 'maps.get', method: 'GET', rest: '7/other' });
});
