import test from 'ava';
import { startTestApp, TEST_DATABASE_URL, TEST_REDIS_URL, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { makeEd25519Key } from '../../helpers/ssh-keys.js';

/**
 * Two instances on one PostgreSQL database and one Redis: a group or project removed through one is gone
 * from the other's directory cache (a long TTL, so only the invalidation message can make it forget).
 */

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const value = await read();
    if (done(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return read();
}

if (!TEST_DATABASE_URL || !TEST_REDIS_URL) {
  test('multi-instance deletion tests skipped: they need GATEHOUSE_TEST_DATABASE_URL and GATEHOUSE_TEST_REDIS_URL', (t) => {
    t.pass();
  });
} else {
  let a: TestApp;
  let b: TestApp;
  test.before(async () => {
    const config = { plugins: { directory: { readCacheTtlMs: 3_600_000, deletionSweepIntervalMs: 0 } } };
    a = await startTestApp({ config });
    b = await startTestApp({ config, joining: a });
  });
  test.after.always(async () => {
    await b?.close();
    await a?.close();
  });

  test('a project removed on one instance is gone on the other, deploy key and all', async (t) => {
    const { user, plaintext } = await createUserWithToken(a, ['api']);
    const project = (await a.request('/api/v4/projects', { method: 'POST', token: plaintext, body: { path: 'twice' } })).body;
    const key = (await a.request(`/api/v4/projects/${project.id}/deploy_keys`, { method: 'POST', token: plaintext, body: { title: 'ci', key: makeEd25519Key().line } })).body;
    // B reads (and caches) the project, its path and the deploy key's link.
    t.is((await b.request(`/api/v4/projects/${project.id}`, { token: plaintext })).status, 200);
    t.truthy(await b.services.directory.projects.findProjectByPath(`${user.username}/twice`));
    t.deepEqual(await b.services.directory.projects.deployKeyLink(key.id, project.id), { canPush: false });

    t.is((await a.request(`/api/v4/projects/${project.id}`, { method: 'DELETE', token: plaintext })).status, 202);
    const fullPath = `${user.username}/twice-deletion_scheduled-${project.id}`;
    const removed = await a.request(`/api/v4/projects/${project.id}?permanently_remove=true&full_path=${encodeURIComponent(fullPath)}`, { method: 'DELETE', token: plaintext });
    t.is(removed.status, 202);

    const gone = await eventually(() => b.request(`/api/v4/projects/${project.id}`, { token: plaintext }), (response) => response.status === 404);
    t.is(gone.status, 404);
    t.is(await b.services.directory.projects.findProjectByPath(`${user.username}/twice`), undefined);
    t.is(await b.services.directory.projects.deployKeyLink(key.id, project.id), undefined);
  });

  test('a group marked for deletion on one instance shows its new path on the other', async (t) => {
    const { plaintext } = await createUserWithToken(a, ['api']);
    const group = (await a.request('/api/v4/groups', { method: 'POST', token: plaintext, body: { name: 'Twice', path: 'twice-group' } })).body;
    t.is((await b.request('/api/v4/groups/twice-group', { token: plaintext })).status, 200);
    t.is((await a.request(`/api/v4/groups/${group.id}`, { method: 'DELETE', token: plaintext })).status, 202);
    const shown = await eventually(() => b.request(`/api/v4/groups/${group.id}`, { token: plaintext }), (response) => response.body.marked_for_deletion_on !== null);
    t.is(shown.body.full_path, `twice-group-deletion_scheduled-${group.id}`);
    t.is((await b.request('/api/v4/groups/twice-group', { token: plaintext })).status, 404);
  });
}
