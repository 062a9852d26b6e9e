import test from 'ava';
import { ROOT_TOKEN, startTestApp, type TestApp } from '../../helpers/app.js';
import { NAMESPACE_NOT_FOUND, badRequest, countRows, grape, newGroup, newUser, packRows, personalNamespaceId, unique } from './_support.js';

const TABLE = 'subscriptions_ci_minutes_packs';
const minutesOf = (ref: number | string) => `/api/v4/namespaces/${ref}/minutes`;
const moveOf = (from: number | string, to: number | string) => `/api/v4/namespaces/${from}/minutes/move/${to}`;
const UNABLE = badRequest('Unable to save additional packs');

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

const addPacks = (ref: number | string, packs: unknown) => app.request(minutesOf(ref), { method: 'POST', token: ROOT_TOKEN, body: { packs } });
const move = (from: number | string, to: number | string) => app.request(moveOf(from, to), { method: 'PATCH', token: ROOT_TOKEN });
const pack = (minutes: number, xid = unique('xid').slice(0, 32), expiresAt = '2027-01-01') => ({ number_of_minutes: minutes, expires_at: expiresAt, purchase_xid: xid });

// --- POST /namespaces/:id/minutes ------------------------------------------------------------------

test('POST minutes: 201 with the created packs, stored for the namespace', async (t) => {
  const group = await newGroup(app);
  const response = await addPacks(group.id, [
    { number_of_minutes: 10000, expires_at: '2027-01-01', purchase_xid: '46952fe69bebc1a4de10b2b4ff439d0c' },
    { number_of_minutes: '500', expires_at: '13 Jun 2027', purchase_xid: 'second-purchase' },
  ]);
  t.is(response.status, 201);
  t.deepEqual(response.body, [
    { namespace_id: group.id, expires_at: '2027-01-01', number_of_minutes: 10000, purchase_xid: '46952fe69bebc1a4de10b2b4ff439d0c' },
    { namespace_id: group.id, expires_at: '2027-06-13', number_of_minutes: 500, purchase_xid: 'second-purchase' },
  ]);
  t.deepEqual(await packRows(app, group.id), response.body);
});

test('POST minutes by full path, and for a personal namespace', async (t) => {
  const group = await newGroup(app);
  const byPath = await addPacks(encodeURIComponent(group.fullPath), [pack(100, 'by-path-xid')]);
  t.is(byPath.status, 201, byPath.text);
  t.is((await packRows(app, group.id)).length, 1);
  const user = await newUser(app);
  const personal = await personalNamespaceId(app, user.id);
  const response = await addPacks(personal, [pack(200, 'personal-xid')]);
  t.deepEqual([response.status, response.body], [201, [{ namespace_id: personal, expires_at: '2027-01-01', number_of_minutes: 200, purchase_xid: 'personal-xid' }]]);
});

test('POST minutes: Grape 400s name each pack, attribute by attribute; nothing stored', async (t) => {
  const group = await newGroup(app);
  const cases: Array<[unknown, string]> = [
    [undefined, 'packs is missing'],
    ['many', 'packs is invalid'],
    [[{}], 'packs[0][number_of_minutes] is missing, packs[0][expires_at] is missing, packs[0][purchase_xid] is missing'],
    [
      [pack(1, 'ok-1'), { number_of_minutes: 'ten', purchase_xid: 'x' }, { expires_at: 'soon', purchase_xid: ['a'] }],
      'packs[2][number_of_minutes] is missing, packs[1][number_of_minutes] is invalid, packs[1][expires_at] is missing, packs[2][expires_at] is invalid, packs[2][purchase_xid] is invalid',
    ],
  ];
  for (const [packs, message] of cases) {
    const response = await app.request(minutesOf(group.id), { method: 'POST', token: ROOT_TOKEN, body: packs === undefined ? {} : { packs } });
    t.deepEqual([response.status, response.body], [400, grape(message)], message);
  }
  t.is(await countRows(app, TABLE, { namespace_id: group.id }), 0);
  // Validation comes before the lookup, as in Grape; then an unknown namespace is 404.
  const unknown = await addPacks(99_999, [pack(1)]);
  t.deepEqual([unknown.status, unknown.body], [404, NAMESPACE_NOT_FOUND]);
});

test('POST minutes: a pack the model refuses fails the whole request, nothing stored', async (t) => {
  const group = await newGroup(app);
  const cases = [
    [pack(1, 'refused-a'), { number_of_minutes: null, expires_at: '2027-01-01', purchase_xid: 'refused-b' }],
    [pack(1, 'refused-c'), { number_of_minutes: 5, expires_at: null, purchase_xid: 'refused-d' }],
    [pack(1, 'refused-e'), { number_of_minutes: 5, expires_at: '2027-01-01', purchase_xid: '' }],
    [pack(1, 'refused-f'), { number_of_minutes: 5, expires_at: '2027-01-01', purchase_xid: 'x'.repeat(33) }],
  ];
  for (const packs of cases) {
    const response = await addPacks(group.id, packs);
    t.deepEqual([response.status, response.body], [400, UNABLE], JSON.stringify(packs));
  }
  t.is(await countRows(app, TABLE, { namespace_id: group.id }), 0);
});

test('POST minutes: a purchase already applied to another namespace is rejected and nothing of the request is stored', async (t) => {
  const first = await newGroup(app);
  const second = await newGroup(app);
  t.is((await addPacks(first.id, [pack(1000, 'purchase-1')])).status, 201);
  // The new pack comes first: it is inserted, then rolled back with the refused one.
  const response = await addPacks(second.id, [pack(300, 'purchase-2'), pack(1000, 'purchase-1')]);
  t.deepEqual([response.status, response.body], [400, UNABLE]);
  t.deepEqual(await packRows(app, second.id), []);
  t.is(await countRows(app, TABLE, { purchase_xid: 'purchase-2' }), 0);
  t.deepEqual(await packRows(app, first.id), [{ namespace_id: first.id, expires_at: '2027-01-01', number_of_minutes: 1000, purchase_xid: 'purchase-1' }]);
});

test('POST minutes: the same purchase sent again to its namespace is answered as stored, not applied twice', async (t) => {
  const group = await newGroup(app);
  t.is((await addPacks(group.id, [pack(1000, 'retried-purchase')])).status, 201);
  const again = await addPacks(group.id, [pack(5, 'retried-purchase', '2030-01-01'), pack(7, 'fresh-purchase')]);
  t.is(again.status, 201);
  t.deepEqual(again.body, [
    { namespace_id: group.id, expires_at: '2027-01-01', number_of_minutes: 1000, purchase_xid: 'retried-purchase' },
    { namespace_id: group.id, expires_at: '2027-01-01', number_of_minutes: 7, purchase_xid: 'fresh-purchase' },
  ]);
  t.deepEqual(await packRows(app, group.id), again.body);
});

// --- PATCH /namespaces/:id/minutes/move/:target_id -------------------------------------------------

test('PATCH move: every pack moves to the target; 202 Accepted', async (t) => {
  const source = await newGroup(app);
  const target = await newGroup(app);
  await addPacks(source.id, [pack(100, 'move-a'), pack(200, 'move-b')]);
  await addPacks(target.id, [pack(300, 'move-c')]);
  const response = await move(source.id, encodeURIComponent(target.fullPath));
  t.deepEqual([response.status, response.body], [202, { message: '202 Accepted' }]);
  t.deepEqual(await packRows(app, source.id), []);
  t.deepEqual(
    (await packRows(app, target.id)).map((p) => p.purchase_xid),
    ['move-a', 'move-b', 'move-c'],
  );
  // Nothing left to move is still accepted.
  t.deepEqual((await move(source.id, target.id)).status, 202);
});

test('PATCH move: 404 for an unknown namespace or target; 400 for subgroups and for the same namespace; nothing moves', async (t) => {
  const owner = await newUser(app);
  const source = await newGroup(app, { ownerId: owner.id });
  const subgroup = await newGroup(app, { parentId: source.id, ownerId: owner.id });
  const target = await newGroup(app);
  await addPacks(source.id, [pack(100, 'stay-a')]);
  await addPacks(subgroup.id, [pack(100, 'stay-b')]);
  const cases: Array<[number | string, number | string, number, unknown]> = [
    [99_999, target.id, 404, NAMESPACE_NOT_FOUND],
    [source.id, 99_999, 404, { message: '404 Target namespace Not Found' }],
    [subgroup.id, target.id, 400, badRequest('Namespace must be a top-level namespace')],
    [source.id, subgroup.id, 400, badRequest('Target namespace must be a top-level namespace')],
    [source.id, encodeURIComponent(source.fullPath), 400, badRequest('Namespace and target must be different')],
  ];
  for (const [from, to, status, body] of cases) {
    const response = await move(from, to);
    t.deepEqual([response.status, response.body], [status, body], `${from} → ${to}`);
  }
  t.is((await packRows(app, source.id)).length, 1);
  t.is((await packRows(app, subgroup.id)).length, 1);
  t.is((await packRows(app, target.id)).length, 0);
});
