import test from 'ava';
import { z } from 'zod';
import { pageOf, paginationShape, setPaginationHeaders } from '../../core/http/pagination.js';
import { p } from '../../core/http/validation.js';
import { definePlugin, routeFor } from '../../core/plugins/types.js';
import { EXTERNAL_URL, startTestApp, type TestApp } from '../helpers/app.js';

interface PagedServices {
  externalUrl: string;
}
const route = routeFor<PagedServices>();

/** One paginated route whose result size comes from `total`, so every header case is one request away. */
const pagedPlugin = definePlugin({
  name: 'paged',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'A paginated list of a given size.',
  services: (deps): PagedServices => ({ externalUrl: deps.app.externalUrl }),
  routes: [
    route({
      name: 'paged.list',
      method: 'GET',
      path: '/api/v4/paged',
      auth: { strategy: 'none', reason: 'test route' },
      input: z.object({ ...paginationShape, total: p.integer() }),
      handler(ctx, input, services) {
        const page = pageOf(input);
        setPaginationHeaders(ctx, services.externalUrl, page, input.total);
        const first = Math.min(page.offset, input.total);
        const last = Math.min(page.offset + page.perPage, input.total);
        ctx.body = Array.from({ length: last - first }, (_, i) => ({ id: first + i + 1 }));
      },
    }),
  ],
});

let app: TestApp;
test.before(async () => {
  app = await startTestApp({ registry: [pagedPlugin] });
});
test.after.always(async () => {
  await app?.close();
});

const headersOf = (headers: Headers) =>
  Object.fromEntries(['x-total', 'x-total-pages', 'x-per-page', 'x-page', 'x-next-page', 'x-prev-page'].map((h) => [h, headers.get(h)]));

test('a middle page has every GitLab header and absolute links on the external URL, keeping the query', async (t) => {
  const response = await app.request('/api/v4/paged?total=45&per_page=20&page=2&search=a%20b');
  t.is(response.status, 200);
  t.is(response.body.length, 20);
  t.is(response.body[0].id, 21);
  t.deepEqual(headersOf(response.headers), {
    'x-total': '45',
    'x-total-pages': '3',
    'x-per-page': '20',
    'x-page': '2',
    'x-next-page': '3',
    'x-prev-page': '1',
  });
  const link = (page: number) => `${EXTERNAL_URL}/api/v4/paged?total=45&per_page=20&page=${page}&search=a+b`;
  t.is(
    response.headers.get('link'),
    `<${link(1)}>; rel="prev", <${link(3)}>; rel="next", <${link(1)}>; rel="first", <${link(3)}>; rel="last"`,
  );
});

test('the last page has an empty X-Next-Page and no next link', async (t) => {
  const response = await app.request('/api/v4/paged?total=45&page=3');
  t.is(response.body.length, 5);
  t.is(response.headers.get('x-next-page'), '');
  t.is(response.headers.get('x-prev-page'), '2');
  t.notRegex(response.headers.get('link')!, /rel="next"/);
  t.regex(response.headers.get('link')!, /page=2&per_page=20>; rel="prev"/, 'page and per_page are added when absent');
});

test('an empty result still has one page', async (t) => {
  const response = await app.request('/api/v4/paged?total=0');
  t.deepEqual(response.body, []);
  t.deepEqual(headersOf(response.headers), {
    'x-total': '0',
    'x-total-pages': '1',
    'x-per-page': '20',
    'x-page': '1',
    'x-next-page': '',
    'x-prev-page': '',
  });
  const only = `${EXTERNAL_URL}/api/v4/paged?total=0&page=1&per_page=20`;
  t.is(response.headers.get('link'), `<${only}>; rel="first", <${only}>; rel="last"`);
});

test('per_page above 100 is clamped to 100', async (t) => {
  const response = await app.request('/api/v4/paged?total=250&per_page=500');
  t.is(response.status, 200);
  t.is(response.body.length, 100);
  t.is(response.headers.get('x-per-page'), '100');
  t.is(response.headers.get('x-total-pages'), '3');
  t.regex(response.headers.get('link')!, /\?total=250&per_page=100&page=2>; rel="next"/, 'the link carries the clamped value');
});

test('beyond 10 000 rows the totals and the last link are left out, as GitLab does', async (t) => {
  const response = await app.request('/api/v4/paged?total=10001&per_page=1');
  t.is(response.headers.get('x-total'), null);
  t.is(response.headers.get('x-total-pages'), null);
  t.is(response.headers.get('x-next-page'), '2');
  t.notRegex(response.headers.get('link')!, /rel="last"/);
});

test('per_page=0 and non-integer pages are GitLab\'s 400s', async (t) => {
  const zero = await app.request('/api/v4/paged?total=1&per_page=0');
  t.is(zero.status, 400);
  t.deepEqual(zero.body, { error: 'per_page has a value not allowed' });

  const word = await app.request('/api/v4/paged?total=1&page=abc');
  t.is(word.status, 400);
  t.deepEqual(word.body, { error: 'page is invalid' });

  const both = await app.request('/api/v4/paged?total=1&page=abc&per_page=x');
  t.deepEqual(both.body, { error: 'page is invalid, per_page is invalid' });

  t.deepEqual((await app.request('/api/v4/paged?total=1&page=0')).body, { error: 'page is invalid' });
});

test('links are built on an external URL with a path prefix', async (t) => {
  const prefixed = await startTestApp({ registry: [pagedPlugin], config: { externalUrl: 'https://example.com/gitlab/' } });
  try {
    const response = await prefixed.request('/api/v4/paged?total=3&per_page=1&page=2');
    t.regex(response.headers.get('link')!, /^<https:\/\/example\.com\/gitlab\/api\/v4\/paged\?total=3&per_page=1&page=1>; rel="prev"/);
  } finally {
    await prefixed.close();
  }
});

test('pageOf: defaults page 1 / 20 per page, offset from the page', (t) => {
  t.deepEqual(pageOf({}), { page: 1, perPage: 20, offset: 0 });
  t.deepEqual(pageOf({ page: 3, per_page: 10 }), { page: 3, perPage: 10, offset: 20 });
  t.deepEqual(pageOf({ page: 2, per_page: 1000 }), { page: 2, perPage: 100, offset: 100 });
});

test('setPaginationHeaders is callable on any context (no route needed)', (t) => {
  const headers: Record<string, string> = {};
  const ctx = { path: '/api/v4/things', querystring: 'a=1', set: (k: string, v: string) => void (headers[k] = v) };
  setPaginationHeaders(ctx as never, 'http://h', { page: 1, perPage: 2, offset: 0 }, 3);
  t.is(headers['X-Next-Page'], '2');
  t.is(headers.Link, '<http://h/api/v4/things?a=1&page=2&per_page=2>; rel="next", <http://h/api/v4/things?a=1&page=1&per_page=2>; rel="first", <http://h/api/v4/things?a=1&page=2&per_page=2>; rel="last"');
});
