import test from 'ava';
import { startGateway, TestClock } from 'gatehouse/testing';
import plugin from '../index.js';
import { MESSAGES_TABLE } from '../migrations/20261204120000_create_broadcast_messages.js';

// Every route through real HTTP against a gateway booted by the kit: who may call it, the flag, GitLab's
// 400s, and the exact answers with the rows they leave behind.

const UNAUTHORIZED = { message: '401 Unauthorized' };
const FORBIDDEN = { message: '403 Forbidden' };
const FLAG_OFF = { message: '404 Not Found' };
const NOT_FOUND = { message: '404 Broadcast Message Not Found' };
const START = '2026-11-22T10:00:00.000Z';
const AN_HOUR_LATER = '2026-11-22T11:00:00.000Z';

/** A gateway with this plugin and a regular user, closed when the test ends. */
async function boot(t, options = {}) {
  const gateway = await startGateway({ plugins: [plugin], clock: new TestClock(START), ...options });
  t.teardown(() => gateway.close());
  const regular = await gateway.createUser();
  const admin = (path, init = {}) => gateway.request(path, { token: gateway.rootToken, ...init });
  return { gateway, regular, admin };
}

const rows = (gateway) => gateway.db(MESSAGES_TABLE).select('id', 'message', 'font', 'target_access_levels', 'broadcast_type', 'theme').orderBy('id');

/** GitLab's answer for a message created with nothing but its text at START. */
const defaults = (id, message) => ({
  id,
  message,
  starts_at: START,
  ends_at: AN_HOUR_LATER,
  font: '#FFFFFF',
  target_access_levels: [],
  target_path: null,
  broadcast_type: 'banner',
  theme: 'indigo',
  dismissable: null,
  active: true,
});

test('reading is public: the list is paginated newest first and one message is found by id', async (t) => {
  const { gateway, admin } = await boot(t);
  t.deepEqual((await gateway.request('/api/v4/broadcast_messages')).body, []);
  for (const message of ['first', 'second', 'third']) t.is((await admin('/api/v4/broadcast_messages', { method: 'POST', body: { message } })).status, 201);

  const page = await gateway.request('/api/v4/broadcast_messages?per_page=2');
  t.is(page.status, 200);
  t.deepEqual(page.body.map((message) => message.message), ['third', 'second']);
  t.is(page.headers.get('x-total'), '3');
  t.is(page.headers.get('x-next-page'), '2');
  const next = await gateway.request('/api/v4/broadcast_messages?per_page=2&page=2');
  t.deepEqual(next.body, [defaults(1, 'first')]);

  const one = await gateway.request('/api/v4/broadcast_messages/2');
  t.is(one.status, 200);
  t.deepEqual(one.body, defaults(2, 'second'));
});

test('an unknown id answers 404 Broadcast Message Not Found on every route', async (t) => {
  const { gateway, admin } = await boot(t);
  const shown = await gateway.request('/api/v4/broadcast_messages/404');
  t.is(shown.status, 404);
  t.deepEqual(shown.body, NOT_FOUND);
  for (const method of ['PUT', 'DELETE']) {
    const response = await admin('/api/v4/broadcast_messages/404', { method, body: { message: 'x' } });
    t.is(response.status, 404, method);
    t.deepEqual(response.body, NOT_FOUND, method);
  }
});

test('writing needs an admin: no credentials answer 401, a regular user 403, and nothing is written', async (t) => {
  const { gateway, regular, admin } = await boot(t);
  t.is((await admin('/api/v4/broadcast_messages', { method: 'POST', body: { message: 'kept' } })).status, 201);
  const attempts = [
    ['POST', '/api/v4/broadcast_messages'],
    ['PUT', '/api/v4/broadcast_messages/1'],
    ['DELETE', '/api/v4/broadcast_messages/1'],
  ];
  for (const [method, path] of attempts) {
    const anonymous = await gateway.request(path, { method, body: { message: 'changed' } });
    t.is(anonymous.status, 401, method);
    t.deepEqual(anonymous.body, UNAUTHORIZED, method);
    const user = await gateway.request(path, { method, token: regular.token, body: { message: 'changed' } });
    t.is(user.status, 403, method);
    t.deepEqual(user.body, FORBIDDEN, method);
  }
  t.deepEqual(await gateway.db(MESSAGES_TABLE).pluck('message'), ['kept']);
});

test('with the flag off every route answers 404 Not Found, after authentication', async (t) => {
  const { gateway, admin } = await boot(t, { flags: { broadcast_messages_api: false } });
  const routes = [
    ['GET', '/api/v4/broadcast_messages'],
    ['GET', '/api/v4/broadcast_messages/1'],
    ['POST', '/api/v4/broadcast_messages'],
    ['PUT', '/api/v4/broadcast_messages/1'],
    ['DELETE', '/api/v4/broadcast_messages/1'],
  ];
  for (const [method, path] of routes) {
    const response = await admin(path, method === 'GET' ? {} : { method, body: { message: 'hidden' } });
    t.is(response.status, 404, `${method} ${path}`);
    t.deepEqual(response.body, FLAG_OFF, `${method} ${path}`);
  }
  t.is((await gateway.request('/api/v4/broadcast_messages', { method: 'POST', body: { message: 'x' } })).status, 401);
  t.deepEqual(await rows(gateway), []);

  gateway.flags.set('broadcast_messages_api', true);
  t.is((await gateway.request('/api/v4/broadcast_messages')).status, 200);
});

test('POST creates a message with GitLab defaults, or with every attribute given', async (t) => {
  const { gateway, admin } = await boot(t);
  const plain = await admin('/api/v4/broadcast_messages', { method: 'POST', body: { message: 'Deploy in progress' } });
  t.is(plain.status, 201);
  t.deepEqual(plain.body, defaults(1, 'Deploy in progress'));

  const full = await admin('/api/v4/broadcast_messages', {
    method: 'POST',
    form: {
      message: 'Maintenance tonight',
      starts_at: '2026-11-23T20:00:00Z',
      ends_at: '2026-11-23T22:00:00Z',
      font: '#abc',
      'target_access_levels[]': ['10', '30'],
      target_path: '*/welcome',
      broadcast_type: 'notification',
      dismissable: 'true',
      theme: 'light-red',
    },
  });
  t.is(full.status, 201);
  t.deepEqual(full.body, {
    id: 2,
    message: 'Maintenance tonight',
    starts_at: '2026-11-23T20:00:00.000Z',
    ends_at: '2026-11-23T22:00:00.000Z',
    font: '#abc',
    target_access_levels: [10, 30],
    target_path: '*/welcome',
    broadcast_type: 'notification',
    theme: 'light-red',
    dismissable: true,
    active: false,
  });
  t.deepEqual(await rows(gateway), [
    { id: 1, message: 'Deploy in progress', font: '#FFFFFF', target_access_levels: '[]', broadcast_type: 'banner', theme: 'indigo' },
    { id: 2, message: 'Maintenance tonight', font: '#abc', target_access_levels: '[10,30]', broadcast_type: 'notification', theme: 'light-red' },
  ]);
});

test("active follows the gateway's clock", async (t) => {
  const clock = new TestClock(START);
  const { gateway, admin } = await boot(t, { clock });
  await admin('/api/v4/broadcast_messages', { method: 'POST', body: { message: 'soon', starts_at: '2026-11-22T12:00:00Z', ends_at: '2026-11-22T13:00:00Z' } });
  const active = async () => (await gateway.request('/api/v4/broadcast_messages/1')).body.active;
  t.false(await active());
  clock.set('2026-11-22T12:30:00Z');
  t.true(await active());
  clock.set('2026-11-22T13:00:01Z');
  t.false(await active());
});

test("bad input answers GitLab's 400s and writes nothing", async (t) => {
  const { gateway, admin } = await boot(t);
  const post = (body) => admin('/api/v4/broadcast_messages', { method: 'POST', body });
  const cases = [
    [{}, { error: 'message is missing' }],
    [
      { message: 'x', starts_at: 'soon', target_access_levels: '10,11', broadcast_type: 'popup', dismissable: 'maybe', theme: 'pink' },
      {
        error:
          'starts_at is invalid, target_access_levels does not have a valid value, broadcast_type does not have a valid value, dismissable is invalid, theme does not have a valid value',
      },
    ],
    [{ message: '  ', font: 'white' }, { message: { message: ["can't be blank"], font: ['must be a valid color code'] } }],
  ];
  for (const [body, expected] of cases) {
    const response = await post(body);
    t.is(response.status, 400, JSON.stringify(body));
    t.deepEqual(response.body, expected, JSON.stringify(body));
  }
  const badId = await gateway.request('/api/v4/broadcast_messages/abc');
  t.is(badId.status, 400);
  t.deepEqual(badId.body, { error: 'id is invalid' });
  t.deepEqual(await rows(gateway), []);
});

test('PUT changes only the attributes given; DELETE answers with the deleted message', async (t) => {
  const { gateway, admin } = await boot(t);
  await admin('/api/v4/broadcast_messages', { method: 'POST', body: { message: 'Deploy in progress', target_access_levels: [20] } });

  const invalid = await admin('/api/v4/broadcast_messages/1', { method: 'PUT', body: { font: 'blue' } });
  t.is(invalid.status, 400);
  t.deepEqual(invalid.body, { message: { font: ['must be a valid color code'] } });

  const updated = await admin('/api/v4/broadcast_messages/1', { method: 'PUT', body: { message: 'Deploy done', broadcast_type: 'notification', dismissable: false } });
  t.is(updated.status, 200);
  t.deepEqual(updated.body, { ...defaults(1, 'Deploy done'), target_access_levels: [20], broadcast_type: 'notification', dismissable: false });
  t.deepEqual(await rows(gateway), [{ id: 1, message: 'Deploy done', font: '#FFFFFF', target_access_levels: '[20]', broadcast_type: 'notification', theme: 'indigo' }]);

  const deleted = await admin('/api/v4/broadcast_messages/1', { method: 'DELETE' });
  t.is(deleted.status, 200);
  t.deepEqual(deleted.body, updated.body);
  t.deepEqual(await rows(gateway), []);
  t.is((await gateway.request('/api/v4/broadcast_messages/1')).status, 404);
});

test('maxMessages caps how many messages exist: one more answers 400 until one is deleted', async (t) => {
  const { gateway, admin } = await boot(t, { config: { plugins: { 'broadcast-messages': { maxMessages: 2 } } } });
  const post = (message) => admin('/api/v4/broadcast_messages', { method: 'POST', body: { message } });
  t.is((await post('one')).status, 201);
  t.is((await post('two')).status, 201);
  const refused = await post('three');
  t.is(refused.status, 400);
  t.deepEqual(refused.body, { message: '400 Bad request - broadcast messages are limited to 2; delete one to create another' });
  t.deepEqual(await gateway.db(MESSAGES_TABLE).orderBy('id').pluck('message'), ['one', 'two']);

  t.is((await admin('/api/v4/broadcast_messages/1', { method: 'DELETE' })).status, 200);
  t.is((await post('three')).status, 201);
  t.deepEqual(await gateway.db(MESSAGES_TABLE).orderBy('id').pluck('message'), ['two', 'three']);
});

test('a config the schema refuses stops boot, naming the key', async (t) => {
  const error = await t.throwsAsync(startGateway({ plugins: [plugin], config: { plugins: { 'broadcast-messages': { maxMessages: 0 } } } }));
  t.regex(error.message, /plugins\.broadcast-messages\.maxMessages/);
});
