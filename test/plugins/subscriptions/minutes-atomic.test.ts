import test from 'ava';
import { ROOT_TOKEN, startTestApp, type TestApp } from '../../helpers/app.js';
import { newGroup, packRows } from './_support.js';

/*
 * Its own app: this suite adds a constraint to the packs table that other suites must not see.
 * The constraint (one pack size per namespace) is real and checked by the database, so a move that
 * breaks it for its second pack fails inside the database half-way through, with no test double.
 */
let app: TestApp;
test.before(async () => {
  app = await startTestApp();
  await app.db.schema.alterTable('subscriptions_ci_minutes_packs', (t) => {
    t.unique(['namespace_id', 'number_of_minutes'], { indexName: 'test_one_pack_size_per_namespace' });
  });
});
test.after.always(async () => {
  await app?.close();
});

const addPacks = (ref: number, packs: unknown) => app.request(`/api/v4/namespaces/${ref}/minutes`, { method: 'POST', token: ROOT_TOKEN, body: { packs } });

test('a move that fails half-way moves nothing: the first pack moved is rolled back with the failing second', async (t) => {
  const source = await newGroup(app);
  const target = await newGroup(app);
  // Oldest first: the 100-minute pack moves cleanly, then the 300-minute one collides with the target's.
  t.is((await addPacks(source.id, [{ number_of_minutes: 100, expires_at: '2027-01-01', purchase_xid: 'atomic-a' }])).status, 201);
  t.is((await addPacks(source.id, [{ number_of_minutes: 300, expires_at: '2027-01-01', purchase_xid: 'atomic-b' }])).status, 201);
  t.is((await addPacks(target.id, [{ number_of_minutes: 300, expires_at: '2027-01-01', purchase_xid: 'atomic-c' }])).status, 201);

  const response = await app.request(`/api/v4/namespaces/${source.id}/minutes/move/${target.id}`, { method: 'PATCH', token: ROOT_TOKEN });
  t.deepEqual([response.status, response.body], [500, { message: '500 Internal Server Error' }]);
  t.deepEqual(
    (await packRows(app, source.id)).map((p) => p.purchase_xid),
    ['atomic-a', 'atomic-b'],
  );
  t.deepEqual(
    (await packRows(app, target.id)).map((p) => p.purchase_xid),
    ['atomic-c'],
  );

  // Without the collision the same move goes through, all at once.
  await app.db('subscriptions_ci_minutes_packs').where({ purchase_xid: 'atomic-c' }).delete();
  const retried = await app.request(`/api/v4/namespaces/${source.id}/minutes/move/${target.id}`, { method: 'PATCH', token: ROOT_TOKEN });
  t.is(retried.status, 202);
  t.deepEqual(
    (await packRows(app, target.id)).map((p) => p.purchase_xid),
    ['atomic-a', 'atomic-b'],
  );
});
