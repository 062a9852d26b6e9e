import test from 'ava';
import { ROOT_TOKEN, startTestApp, type TestApp } from '../../helpers/app.js';
import { countRows, grape, newGroup, reconciliationRows } from './_support.js';

const PATH = '/api/v4/internal/upcoming_reconciliations';
const TABLE = 'subscriptions_upcoming_reconciliations';

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

const put = (body: unknown) => app.request(PATH, { method: 'PUT', token: ROOT_TOKEN, body });
const rowsOf = async (...namespaceIds: number[]) => (await reconciliationRows(app)).filter((row) => namespaceIds.includes(row.namespace_id));

test('PUT: one row per namespace from the docs\' "13 Jun 2021" dates and from ISO dates; 200', async (t) => {
  const [a, b] = [await newGroup(app), await newGroup(app)];
  const response = await put({
    upcoming_reconciliations: [
      { namespace_id: a.id, next_reconciliation_date: '13 Jun 2027', display_alert_from: '06 Jun 2027' },
      { namespace_id: b.id, next_reconciliation_date: '2027-06-12', display_alert_from: '2027-06-05' },
    ],
  });
  t.deepEqual([response.status, response.body], [200, 200]);
  t.deepEqual(await rowsOf(a.id, b.id), [
    { namespace_id: a.id, next_reconciliation_date: '2027-06-13', display_alert_from: '2027-06-06' },
    { namespace_id: b.id, next_reconciliation_date: '2027-06-12', display_alert_from: '2027-06-05' },
  ]);
});

test('PUT is an upsert: sending the same twice keeps one row; new dates replace the old; the last of duplicates wins', async (t) => {
  const group = await newGroup(app);
  const body = { upcoming_reconciliations: [{ namespace_id: group.id, next_reconciliation_date: '2027-01-10', display_alert_from: '2027-01-03' }] };
  t.is((await put(body)).status, 200);
  t.is((await put(body)).status, 200);
  t.is(await countRows(app, TABLE, { namespace_id: group.id }), 1);
  t.deepEqual(await rowsOf(group.id), [{ namespace_id: group.id, next_reconciliation_date: '2027-01-10', display_alert_from: '2027-01-03' }]);

  const moved = await put({
    upcoming_reconciliations: [
      { namespace_id: group.id, next_reconciliation_date: '2027-02-10', display_alert_from: '2027-02-03' },
      { namespace_id: group.id, next_reconciliation_date: '10 Mar 2027', display_alert_from: '3 Mar 2027' },
    ],
  });
  t.is(moved.status, 200, moved.text);
  t.deepEqual(await rowsOf(group.id), [{ namespace_id: group.id, next_reconciliation_date: '2027-03-10', display_alert_from: '2027-03-03' }]);
});

test('PUT: Grape 400s (element names without an index, as for Array[JSON]); nothing stored', async (t) => {
  const group = await newGroup(app);
  const item = { namespace_id: group.id, next_reconciliation_date: '2027-01-10', display_alert_from: '2027-01-03' };
  const cases: Array<[unknown, string]> = [
    [{}, 'upcoming_reconciliations is missing'],
    [{ upcoming_reconciliations: 'soon' }, 'upcoming_reconciliations is invalid'],
    [{ upcoming_reconciliations: [{ ...item, namespace_id: null }] }, 'upcoming_reconciliations[namespace_id] is empty'],
    [
      { upcoming_reconciliations: [{ next_reconciliation_date: '2027-01-10', display_alert_from: '2027-01-03' }] },
      'upcoming_reconciliations[namespace_id] is missing, upcoming_reconciliations[namespace_id] is empty',
    ],
    [
      { upcoming_reconciliations: [item, { namespace_id: 'abc', next_reconciliation_date: '2027-13-01' }] },
      'upcoming_reconciliations[namespace_id] is invalid, upcoming_reconciliations[next_reconciliation_date] is invalid, upcoming_reconciliations[display_alert_from] is missing',
    ],
  ];
  for (const [body, message] of cases) {
    const response = await put(body);
    t.deepEqual([response.status, response.body], [400, grape(message)], message);
  }
  t.is(await countRows(app, TABLE, { namespace_id: group.id }), 0);
});

test('PUT: an unknown namespace or a blank date is reported in GitLab\'s shape; the valid ones are stored', async (t) => {
  const group = await newGroup(app);
  const other = await newGroup(app);
  const response = await put({
    upcoming_reconciliations: [
      { namespace_id: 99_999, next_reconciliation_date: '2027-01-10', display_alert_from: '2027-01-03' },
      { namespace_id: group.id, next_reconciliation_date: '2027-01-10', display_alert_from: '2027-01-03' },
      { namespace_id: other.id, next_reconciliation_date: null, display_alert_from: '' },
    ],
  });
  t.is(response.status, 400);
  t.deepEqual(response.body, {
    message: { error: JSON.stringify([{ 99999: ["Namespace can't be blank"] }, { [other.id]: ["Next reconciliation date can't be blank", "Display alert from can't be blank"] }]) },
  });
  t.deepEqual(await rowsOf(group.id, other.id, 99_999), [{ namespace_id: group.id, next_reconciliation_date: '2027-01-10', display_alert_from: '2027-01-03' }]);
});

test('DELETE: 204 and the row is gone; 404 when there is none; 400 without namespace_id', async (t) => {
  const group = await newGroup(app);
  await put({ upcoming_reconciliations: [{ namespace_id: group.id, next_reconciliation_date: '2027-01-10', display_alert_from: '2027-01-03' }] });
  const deleted = await app.request(`${PATH}?namespace_id=${group.id}`, { method: 'DELETE', token: ROOT_TOKEN });
  t.deepEqual([deleted.status, deleted.text], [204, '']);
  t.is(await countRows(app, TABLE, { namespace_id: group.id }), 0);
  const again = await app.request(`${PATH}?namespace_id=${group.id}`, { method: 'DELETE', token: ROOT_TOKEN });
  t.deepEqual([again.status, again.body], [404, { message: '404 Not Found' }]);

  const cases: Array<[string, string]> = [
    ['', 'namespace_id is missing, namespace_id is empty'],
    ['?namespace_id=', 'namespace_id is empty'],
    ['?namespace_id=abc', 'namespace_id is invalid'],
  ];
  for (const [query, message] of cases) {
    const response = await app.request(`${PATH}${query}`, { method: 'DELETE', token: ROOT_TOKEN });
    t.deepEqual([response.status, response.body], [400, grape(message)], query);
  }
});
