import test from 'ava';
import { z } from 'zod';
import { ForbiddenError, UnauthorizedError } from '../../core/errors.js';
import { definePlugin } from '../../core/plugins/types.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

// `errorHeaders` on a route: added to every error it answers with, whichever stage raised it.

const ORIGIN = { 'X-GitLab-Error-Origin': 'monolith' };
const none = { strategy: 'none', reason: 'test route' } as const;

const marked = definePlugin({
  name: 'marked',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'Routes whose errors carry a header.',
  authStrategies: {
    deny: () => ({
      authenticate() {
        throw new UnauthorizedError();
      },
    }),
  },
  routes: [
    { name: 'marked.ok', method: 'GET', path: '/api/v4/marked/ok', auth: none, errorHeaders: ORIGIN, handler: (ctx) => void (ctx.body = { ok: true }) },
    { name: 'marked.denied', method: 'GET', path: '/api/v4/marked/denied', auth: { strategy: 'deny' }, errorHeaders: ORIGIN, handler: () => {} },
    {
      name: 'marked.forbidden',
      method: 'GET',
      path: '/api/v4/marked/forbidden',
      auth: none,
      errorHeaders: ORIGIN,
      handler: () => {
        throw new ForbiddenError('nope');
      },
    },
    {
      name: 'marked.bug',
      method: 'GET',
      path: '/api/v4/marked/bug',
      auth: none,
      errorHeaders: ORIGIN,
      handler: () => {
        throw new Error('a bug');
      },
    },
    { name: 'marked.validated', method: 'POST', path: '/api/v4/marked/validated', auth: none, errorHeaders: ORIGIN, input: z.object({ name: z.string() }), handler: () => {} },
    { name: 'marked.limited', method: 'GET', path: '/api/v4/marked/limited', auth: none, errorHeaders: ORIGIN, rateLimit: { max: 1, windowMs: 60_000, by: 'ip' }, handler: (ctx) => void (ctx.body = {}) },
    {
      name: 'marked.plain',
      method: 'GET',
      path: '/api/v4/plain/forbidden',
      auth: none,
      handler: () => {
        throw new ForbiddenError();
      },
    },
  ],
});

let app: TestApp;
test.before(async () => {
  app = await startTestApp({ registry: [marked], redis: false, config: { server: { bodyLimit: 64 } } });
});
test.after.always(async () => {
  await app?.close();
});

test('errorHeaders: on errors from auth, the handler, validation, the body limit, the rate limit and bugs', async (t) => {
  const cases: Array<[string, Parameters<TestApp['request']>[1], number, unknown]> = [
    ['/api/v4/marked/denied', {}, 401, { message: '401 Unauthorized' }],
    ['/api/v4/marked/forbidden', {}, 403, { message: '403 Forbidden - nope' }],
    ['/api/v4/marked/bug', {}, 500, { message: '500 Internal Server Error' }],
    ['/api/v4/marked/validated', { method: 'POST', body: {} }, 400, { error: 'name is missing' }],
    ['/api/v4/marked/validated', { method: 'POST', body: { name: 'x'.repeat(100) } }, 413, { message: '413 Request Entity Too Large' }],
  ];
  for (const [path, options, status, body] of cases) {
    const response = await app.request(path, options);
    t.is(response.status, status, path);
    t.deepEqual(response.body, body);
    t.is(response.headers.get('x-gitlab-error-origin'), 'monolith', path);
    t.truthy(response.headers.get('x-request-id'));
  }
  t.is((await app.request('/api/v4/marked/limited')).status, 200);
  const limited = await app.request('/api/v4/marked/limited');
  t.is(limited.status, 429);
  t.is(limited.headers.get('x-gitlab-error-origin'), 'monolith');
  t.is(limited.headers.get('retry-after'), '60');
});

test('errorHeaders: not on successes, nor on routes that do not declare them', async (t) => {
  const ok = await app.request('/api/v4/marked/ok');
  t.is(ok.status, 200);
  t.is(ok.headers.get('x-gitlab-error-origin'), null);
  const plain = await app.request('/api/v4/plain/forbidden');
  t.is(plain.status, 403);
  t.is(plain.headers.get('x-gitlab-error-origin'), null);
});
