import test from 'ava';
import { z } from 'zod';
import { paginationShape, respondWithPage } from '../../core/http/pagination.js';
import { callerOf, created, noContent } from '../../core/http/responses.js';
import { registry as shipped } from '../../core/plugins/registry.js';
import { definePlugin, type AnyPluginManifest } from '../../core/plugins/types.js';
import { EXTERNAL_URL, ROOT_TOKEN, backendName, startTestApp, type TestApp } from '../helpers/app.js';

// The response helpers plugins answer with, served through a real gateway.

const LETTERS = ['a', 'b', 'c', 'd', 'e'];
const windowsAsked: Array<{ offset: number; limit: number }> = [];

const answers = definePlugin({
  name: 'answers',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'Routes that answer through the core helpers.',
  routes: [
    {
      name: 'answers.whoami-public',
      method: 'GET',
      path: '/api/v4/answers/whoami-public',
      auth: { strategy: 'none', reason: 'shows that a route without a user gets a 401 from callerOf' },
      handler(ctx) {
        ctx.body = { username: callerOf(ctx).username };
      },
    },
    {
      name: 'answers.whoami',
      method: 'GET',
      path: '/api/v4/answers/whoami',
      auth: { strategy: 'token' },
      handler(ctx) {
        ctx.body = { username: callerOf(ctx).username };
      },
    },
    {
      name: 'answers.create',
      method: 'POST',
      path: '/api/v4/answers',
      auth: { strategy: 'token' },
      handler(ctx) {
        created(ctx, { id: 1 });
      },
    },
    {
      name: 'answers.delete',
      method: 'DELETE',
      path: '/api/v4/answers/:id',
      auth: { strategy: 'token' },
      handler(ctx) {
        ctx.body = { about: 'to be dropped' };
        noContent(ctx);
      },
    },
    {
      name: 'answers.letters',
      method: 'GET',
      path: '/api/v4/answers/letters',
      auth: { strategy: 'token' },
      input: z.object(paginationShape),
      async handler(ctx, input) {
        await respondWithPage(ctx, EXTERNAL_URL, input, async (window) => {
          windowsAsked.push(window);
          return { items: LETTERS.slice(window.offset, window.offset + window.limit), total: LETTERS.length };
        });
      },
    },
  ],
}) as AnyPluginManifest;

let app: TestApp;
test.before(async () => {
  app = await startTestApp({ registry: [...shipped, answers], config: { plugins: { answers: { enabled: true } } } });
});
test.after.always(async () => {
  await app?.close();
});

const asRoot = { token: ROOT_TOKEN };

test(`callerOf: the authenticated user, or GitLab's 401 on a route that authenticated none (${backendName})`, async (t) => {
  const whoami = await app.request('/api/v4/answers/whoami', asRoot);
  t.is(whoami.status, 200);
  t.deepEqual(whoami.body, { username: 'root' });
  const nobody = await app.request('/api/v4/answers/whoami-public');
  t.is(nobody.status, 401);
  t.deepEqual(nobody.body, { message: '401 Unauthorized' });
});

test(`created answers 201 with the body; noContent answers 204 with none (${backendName})`, async (t) => {
  const made = await app.request('/api/v4/answers', { ...asRoot, method: 'POST' });
  t.is(made.status, 201);
  t.deepEqual(made.body, { id: 1 });
  const gone = await app.request('/api/v4/answers/1', { ...asRoot, method: 'DELETE' });
  t.is(gone.status, 204);
  t.is(gone.text, '');
});

test(`respondWithPage: the window asked for, the page as the body and GitLab's headers (${backendName})`, async (t) => {
  windowsAsked.length = 0;
  const page = await app.request('/api/v4/answers/letters?page=2&per_page=2', asRoot);
  t.is(page.status, 200);
  t.deepEqual(windowsAsked, [{ offset: 2, limit: 2 }]);
  t.deepEqual(page.body, ['c', 'd']);
  t.is(page.headers.get('x-page'), '2');
  t.is(page.headers.get('x-per-page'), '2');
  t.is(page.headers.get('x-next-page'), '3');
  t.is(page.headers.get('x-prev-page'), '1');
  t.is(page.headers.get('x-total'), '5');
  t.is(page.headers.get('x-total-pages'), '3');
  t.regex(page.headers.get('link') ?? '', /<http:\/\/gatehouse\.test\/api\/v4\/answers\/letters\?page=3&per_page=2>; rel="next"/);
});
