import test from 'ava';
import { startTestApp, ROOT_TOKEN, EXTERNAL_URL, TEST_REDIS_URL, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { shellHeaders, shellJwt } from '../../helpers/shell.js';
import { makeEd25519Key } from '../../helpers/ssh-keys.js';
import { UNAUTHORIZED } from '../../helpers/gitlab-errors.js';

const OLD = 'a'.repeat(40);
const NEW = 'b'.repeat(40);
const ZERO = '0'.repeat(40);
const change = (ref: string, newrev = NEW, oldrev = OLD) => `${oldrev} ${newrev} ${ref}`;

let app: TestApp;
let user: { id: number; username: string };
let project: { id: number; fullPath: string; defaultBranch: string };
let keyId: number;
let deployKeyId: number;

test.before(async () => {
  app = await startTestApp();
  ({ user } = await createUserWithToken(app));
  const { directory } = app.services;
  project = await directory.projects.createProject({ id: user.id, isAdmin: false }, { name: 'Hooked', visibility: 'private' });
  keyId = (await directory.keys.add(user.id, { title: 'laptop', key: makeEd25519Key().line, expiresAt: null })).id;
  deployKeyId = (await directory.keys.add(null, { title: 'ci', key: makeEd25519Key().line, expiresAt: null }, 'deploy_key')).id;
});
test.after.always(async () => {
  await app?.close();
});

const hooks = () => app.services['internal-api'].internal.pushHooks;
const glRepository = () => `project-${project.id}`;
const mrMessage = (branch: string, encoded: string) => ({
  message: `To create a merge request for ${branch}, visit:\n  ${EXTERNAL_URL}/${project.fullPath}/-/merge_requests/new?merge_request%5Bsource_branch%5D=${encoded}`,
  type: 'basic',
});

async function preReceive(body: Record<string, unknown>) {
  return app.request('/api/v4/internal/pre_receive', { method: 'POST', headers: await shellHeaders(app), body });
}
async function postReceive(body: Record<string, unknown>) {
  return app.request('/api/v4/internal/post_receive', { method: 'POST', headers: await shellHeaders(app), body });
}
/** Gitaly's post-receive body (Go map, keys sorted). */
const gitalyPost = (changes: string, overrides: Record<string, unknown> = {}) => ({
  changes,
  gl_repository: glRepository(),
  identifier: `user-${user.id}`,
  push_options: null,
  gitaly_client_context_bin: null,
  ...overrides,
});

// ---------------------------------------------------------------- pre_receive

test.serial('pre_receive: exactly 200, JSON, reference_counter_increased, and the counter goes up', async (t) => {
  const repo = 'project-9001';
  const first = await preReceive({ gl_repository: repo });
  t.is(first.status, 200);
  t.regex(first.headers.get('content-type') ?? '', /^application\/json/);
  t.is(first.text, '{"reference_counter_increased":true}');
  await preReceive({ gl_repository: repo });
  t.is(await hooks().referenceCount(repo), 2);
  if (TEST_REDIS_URL) {
    const prefix = app.gateway.config.redis.keyPrefix;
    t.is(await app.gateway.redis!.get(`${prefix}internal-api:refcount:${repo}`), '2');
    const ttl = await app.gateway.redis!.ttl(`${prefix}internal-api:refcount:${repo}`);
    t.true(ttl > 0 && ttl <= 600);
  }
});

test.serial('post_receive: the counter goes down, never below 0', async (t) => {
  const repo = 'project-9002';
  await preReceive({ gl_repository: repo });
  await preReceive({ gl_repository: repo });
  t.is(await hooks().referenceCount(repo), 2);
  const down = await postReceive({ gl_repository: repo, identifier: `user-${user.id}`, changes: '' });
  t.is(down.status, 200);
  t.deepEqual(down.body, { messages: [], reference_counter_decreased: true });
  t.is(await hooks().referenceCount(repo), 1);
  await postReceive({ gl_repository: repo, changes: '' });
  t.is(await hooks().referenceCount(repo), 0);
  const extra = await postReceive({ gl_repository: repo, changes: '' });
  t.is(extra.status, 200);
  t.true(extra.body.reference_counter_decreased);
  t.is(await hooks().referenceCount(repo), 0);
  if (TEST_REDIS_URL) {
    t.is(await app.gateway.redis!.exists(`${app.gateway.config.redis.keyPrefix}internal-api:refcount:${repo}`), 0);
  }
  // Counting starts again from 0, not from -1.
  await preReceive({ gl_repository: repo });
  t.is(await hooks().referenceCount(repo), 1);
});

test.serial('the in-process counter expires like the Redis key', async (t) => {
  if (TEST_REDIS_URL) return t.pass('Redis expiry is checked by TTL above');
  const repo = 'project-9003';
  await preReceive({ gl_repository: repo });
  app.clock.advance(601_000);
  t.is(await hooks().referenceCount(repo), 0);
});

// ---------------------------------------------------------------- post_receive messages

test('post_receive: exact body with the merge-request link for a pushed branch', async (t) => {
  const response = await postReceive(gitalyPost(change('refs/heads/topic')));
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /^application\/json/);
  t.is(
    response.text,
    JSON.stringify({
      messages: [
        {
          message: `To create a merge request for topic, visit:\n  ${EXTERNAL_URL}/${project.fullPath}/-/merge_requests/new?merge_request%5Bsource_branch%5D=topic`,
          type: 'basic',
        },
      ],
      reference_counter_decreased: true,
    }),
  );
});

test('post_receive: branch names are URL-encoded in the link, not in the text', async (t) => {
  const response = await postReceive(gitalyPost(change('refs/heads/feature/x')));
  t.deepEqual(response.body.messages, [mrMessage('feature/x', 'feature%2Fx')]);
  const odd = await postReceive(gitalyPost(change("refs/heads/fix(ui)!'*+&#")));
  t.deepEqual(odd.body.messages, [mrMessage("fix(ui)!'*+&#", 'fix%28ui%29%21%27%2A%2B%26%23')]);
});

test('post_receive: a push to the default branch gets no message', async (t) => {
  t.is(project.defaultBranch, 'main');
  const response = await postReceive(gitalyPost(change('refs/heads/main')));
  t.deepEqual(response.body, { messages: [], reference_counter_decreased: true });
});

test('post_receive: a branch deletion gets no message; tags and other refs neither', async (t) => {
  const response = await postReceive(gitalyPost([change('refs/heads/gone', ZERO), change('refs/tags/v1.0'), change('refs/merge-requests/1/head')].join('\n')));
  t.deepEqual(response.body.messages, []);
});

test('post_receive: several refs give one message each, in push order, skipping the rest', async (t) => {
  const changes = [
    change('refs/heads/one', NEW, ZERO),
    change('refs/heads/main'),
    change('refs/heads/two'),
    change('refs/heads/three', ZERO),
    '',
    change('refs/tags/v2'),
  ].join('\r\n');
  const response = await postReceive(gitalyPost(changes));
  t.deepEqual(response.body.messages, [mrMessage('one', 'one'), mrMessage('two', 'two')]);
});

test('post_receive: key and username identifiers find the user too', async (t) => {
  const byKey = await postReceive(gitalyPost(change('refs/heads/k'), { identifier: `key-${keyId}` }));
  t.deepEqual(byKey.body.messages, [mrMessage('k', 'k')]);
  const byName = await postReceive(gitalyPost(change('refs/heads/u'), { identifier: `username-${user.username}` }));
  t.deepEqual(byName.body.messages, [mrMessage('u', 'u')]);
});

test('post_receive: a wiki push gets no merge-request message', async (t) => {
  const response = await postReceive(gitalyPost(change('refs/heads/topic'), { gl_repository: `wiki-${project.id}` }));
  t.deepEqual(response.body, { messages: [], reference_counter_decreased: true });
});

test('post_receive: unknown or unparsable repositories, orphaned keys and unknown users still answer 200', async (t) => {
  for (const overrides of [
    { gl_repository: 'project-987654' },
    { gl_repository: 'snippet-1' },
    { gl_repository: 'garbage' },
    { gl_repository: undefined },
    { identifier: `key-${deployKeyId}` },
    { identifier: 'key-987654' },
    { identifier: 'user-987654' },
    { identifier: 'nonsense' },
  ]) {
    const response = await postReceive(gitalyPost(change('refs/heads/topic'), overrides));
    t.is(response.status, 200, JSON.stringify(overrides));
    t.deepEqual(response.body, { messages: [], reference_counter_decreased: true }, JSON.stringify(overrides));
  }
  const pre = await preReceive({ gl_repository: 'garbage' });
  t.is(pre.status, 200);
  t.deepEqual(pre.body, { reference_counter_increased: true });
  const empty = await app.request('/api/v4/internal/pre_receive', { method: 'POST', headers: { 'Gitlab-Shell-Api-Request': await shellJwt(app) } });
  t.is(empty.status, 200);
  t.deepEqual(empty.body, { reference_counter_increased: true });
});

test('form bodies work like JSON (push_options[] as an array)', async (t) => {
  const headers = { 'Gitlab-Shell-Api-Request': await shellJwt(app) };
  const pre = await app.request('/api/v4/internal/pre_receive', { method: 'POST', headers, form: { gl_repository: 'project-9100' } });
  t.is(pre.status, 200);
  t.deepEqual(pre.body, { reference_counter_increased: true });
  const post = await app.request('/api/v4/internal/post_receive', {
    method: 'POST',
    headers,
    form: {
      gl_repository: glRepository(),
      identifier: `user-${user.id}`,
      changes: [change('refs/heads/feature/x'), change('refs/heads/main')].join('\n'),
      'push_options[]': ['ci.skip', 'merge_request.create'],
    },
  });
  t.is(post.status, 200);
  t.regex(post.headers.get('content-type') ?? '', /^application\/json/);
  t.deepEqual(post.body, { messages: [mrMessage('feature/x', 'feature%2Fx')], reference_counter_decreased: true });
});

test('without the shell credentials: 401, and user tokens are not shell credentials', async (t) => {
  for (const path of ['/api/v4/internal/pre_receive', '/api/v4/internal/post_receive']) {
    const none = await app.request(path, { method: 'POST', body: { gl_repository: glRepository() } });
    t.is(none.status, 401);
    t.deepEqual(none.body, UNAUTHORIZED);
    const root = await app.request(path, { method: 'POST', token: ROOT_TOKEN, body: { gl_repository: glRepository() } });
    t.is(root.status, 401);
    t.deepEqual(root.body, UNAUTHORIZED);
    const wrong = await app.request(path, {
      method: 'POST',
      headers: { 'Gitlab-Shell-Api-Request': await shellJwt(app, { secret: 'not-the-secret' }) },
      body: { gl_repository: glRepository() },
    });
    t.is(wrong.status, 401);
  }
});
