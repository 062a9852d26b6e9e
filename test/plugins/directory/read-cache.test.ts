import test from 'ava';
import { startTestApp, ROOT_TOKEN, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';

/**
 * The directory's read cache serves hot-path reads from memory; every write the directory's services
 * commit clears it before the write is answered, whoever calls them (routes, other plugins, the CLI).
 */
let app: TestApp;
test.before(async () => {
  // A long TTL: only invalidation can make these tests pass.
  app = await startTestApp({ config: { plugins: { directory: { readCacheTtlMs: 3_600_000 } } } });
});
test.after.always(async () => {
  await app?.close();
});

test.serial('cached reads see writes made through the API and through the services', async (t) => {
  const { user, plaintext } = await createUserWithToken(app, ['api']);
  const created = await app.request('/api/v4/projects', { method: 'POST', token: plaintext, body: { name: 'cached', path: 'cached' } });
  const projects = app.services.directory.projects;
  const first = await projects.findProjectById(created.body.id);
  t.is(await projects.findProjectById(created.body.id), first, 'served from the cache');
  t.is(first.archived, false);

  t.is((await app.request(`/api/v4/projects/${created.body.id}/archive`, { method: 'POST', token: plaintext })).status, 201);
  t.is((await projects.findProjectById(created.body.id)).archived, true, 'an API write clears it');

  await projects.setArchived(first, false);
  t.is((await projects.findProjectById(created.body.id)).archived, false, 'a service write clears it');

  t.is((await app.services.directory.users.findById(user.id)).name, user.name);
  await app.services.directory.users.update(user, { name: 'Renamed' });
  t.is((await app.services.directory.users.findById(user.id)).name, 'Renamed', 'a write in a transaction clears it once committed');
});

test.serial('a read that began before a write committed does not put the old row back', async (t) => {
  const { user } = await createUserWithToken(app, ['api']);
  const users = app.services.directory.users;
  const cache = app.services.directory.readCache;
  // A reader takes the generation, reads the row, and is slow to store it; the write commits and
  // invalidates in between. What the reader read is refused, and the next read sees the write.
  const since = cache.generation;
  const stale = await users.repository.findById(user.id);
  await users.setState(user, 'blocked');
  t.false(cache.set(`user:${user.id}`, stale, since));
  t.is((await users.findById(user.id)).state, 'blocked');
});

test.serial('access levels follow membership changes at once', async (t) => {
  const owner = await createUserWithToken(app, ['api']);
  const member = await createUserWithToken(app, ['api']);
  const created = await app.request('/api/v4/projects', { method: 'POST', token: owner.plaintext, body: { name: 'team', path: 'team' } });
  const projects = app.services.directory.projects;
  const project = await projects.findProjectById(created.body.id);
  t.is(await projects.accessLevel(member.user.id, project), 0);
  const added = await app.request(`/api/v4/projects/${project.id}/members`, { method: 'POST', token: owner.plaintext, body: { user_id: member.user.id, access_level: 30 } });
  t.is(added.status, 201);
  t.is(await projects.accessLevel(member.user.id, project), 30);
  t.truthy(ROOT_TOKEN);
});
