import test from 'ava';
import { ROOT_TOKEN, startTestApp, type TestApp } from '../../helpers/app.js';
import {
  DEVELOPER,
  GUEST,
  NAMESPACE_NOT_FOUND,
  REPORTER,
  SUBSCRIPTION_NOT_FOUND,
  addGroupMember,
  addProjectMember,
  countRows,
  grape,
  newGroup,
  newProject,
  newUser,
  personalNamespaceId,
  subscriptionRow,
} from './_support.js';

const TABLE = 'subscriptions_gitlab_subscriptions';
const subscriptionOf = (ref: number | string) => `/api/v4/namespaces/${ref}/gitlab_subscription`;

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

interface Expected {
  code?: string | null;
  name?: string | null;
  trial?: boolean;
  auto_renew?: boolean | null;
  upgradable?: boolean;
  exclude_guests?: boolean;
  seats?: number;
  seats_in_use: number;
  max_seats_used?: number;
  seats_owed?: number;
  start: string;
  end?: string | null;
  trial_ends_on?: string | null;
}

/** GitLab's GitlabSubscription entity, from the values a test cares about. */
const subscriptionJson = (e: Expected) => ({
  plan: {
    code: e.code ?? null,
    name: e.name ?? null,
    trial: e.trial ?? false,
    auto_renew: e.auto_renew ?? null,
    upgradable: e.upgradable ?? false,
    exclude_guests: e.exclude_guests ?? false,
  },
  usage: {
    seats_in_subscription: e.seats ?? 0,
    seats_in_use: e.seats_in_use,
    max_seats_used: e.max_seats_used ?? 0,
    seats_owed: e.seats_owed ?? 0,
  },
  billing: { subscription_start_date: e.start, subscription_end_date: e.end ?? null, trial_ends_on: e.trial_ends_on ?? null },
});

const post = (ref: number | string, body: unknown) => app.request(subscriptionOf(ref), { method: 'POST', token: ROOT_TOKEN, body });
const put = (ref: number | string, body: unknown) => app.request(subscriptionOf(ref), { method: 'PUT', token: ROOT_TOKEN, body });
const get = (ref: number | string) => app.request(subscriptionOf(ref), { token: ROOT_TOKEN });

async function subscribedGroup(body: Record<string, unknown> = {}) {
  const group = await newGroup(app);
  const created = await post(group.id, { start_date: '2026-07-15', end_date: '2027-07-15', plan_code: 'premium', seats: 10, ...body });
  if (created.status !== 201) throw new Error(`subscribing failed: ${created.status} ${created.text}`);
  return group;
}

// --- POST ------------------------------------------------------------------------------------------

test('POST creates the subscription: 201 with the entity, seats counted from the members, stored as sent', async (t) => {
  const group = await newGroup(app);
  const developer = await newUser(app);
  await addGroupMember(app, group.id, developer.id, DEVELOPER);
  const response = await post(group.id, { start_date: '2026-07-15', end_date: '2027-07-15', plan_code: 'premium', seats: 10, auto_renew: true });
  t.is(response.status, 201);
  t.deepEqual(
    response.body,
    subscriptionJson({ code: 'premium', name: 'Premium', auto_renew: true, upgradable: true, seats: 10, seats_in_use: 2, start: '2026-07-15', end: '2027-07-15' }),
  );
  t.deepEqual(await subscriptionRow(app, group.id), {
    plan_code: 'premium',
    seats: 10,
    max_seats_used: 0,
    start_date: '2026-07-15',
    end_date: '2027-07-15',
    auto_renew: true,
    trial: false,
    trial_starts_on: null,
    trial_ends_on: null,
    trial_extension_type: null,
  });
});

test('POST takes the dates as Grape does ("13 Jun 2021", 01/02/2026, timestamps), and a URL-encoded full path', async (t) => {
  const owner = await newUser(app);
  const parent = await newGroup(app, { ownerId: owner.id });
  const subgroup = await newGroup(app, { parentId: parent.id, ownerId: owner.id });
  const response = await post(encodeURIComponent(subgroup.fullPath), {
    start_date: '13 Jun 2026',
    end_date: '01/02/2027',
    trial: true,
    trial_ends_on: '2026-07-13T12:00:00Z',
  });
  t.is(response.status, 201, response.text);
  t.deepEqual(response.body.billing, { subscription_start_date: '2026-06-13', subscription_end_date: '2027-02-01', trial_ends_on: '2026-07-13' });
  // Without a plan_code the subscription has no plan (GitLab leaves hosted_plan unset).
  t.deepEqual(response.body.plan, { code: null, name: null, trial: true, auto_renew: null, upgradable: false, exclude_guests: false });
  // A trial without trial_starts_on starts on start_date.
  t.like(await subscriptionRow(app, subgroup.id), { trial: true, trial_starts_on: '2026-06-13', trial_ends_on: '2026-07-13', plan_code: null });
});

test('POST with the parameters in the query string, as the documentation\'s curl example sends them', async (t) => {
  const group = await newGroup(app);
  const response = await app.request(`${subscriptionOf(group.id)}?start_date="2026-07-15"&plan_code=premium&seats=10&trial=false&auto_renew=true`, {
    method: 'POST',
    token: ROOT_TOKEN,
  });
  t.is(response.status, 201, response.text);
  t.deepEqual(
    response.body,
    subscriptionJson({ code: 'premium', name: 'Premium', auto_renew: true, upgradable: true, seats: 10, seats_in_use: 1, start: '2026-07-15' }),
  );
});

test('POST: Grape 400s in declaration order, nothing stored', async (t) => {
  const group = await newGroup(app);
  const cases: Array<[unknown, string]> = [
    [{}, 'start_date is missing'],
    [{ seats: 3 }, 'start_date is missing'],
    [
      { start_date: 'soon', plan_code: 'platinum', seats: 'many', max_seats_used: 1.5, auto_renew: 'maybe', trial: 'sometimes', trial_ends_on: '2026-02-30', trial_starts_on: 7 },
      'start_date is invalid, plan_code does not have a valid value, seats is invalid, max_seats_used is invalid, auto_renew is invalid, trial is invalid, trial_ends_on is invalid, trial_starts_on is invalid',
    ],
    [{ start_date: '2026-01-01', end_date: '32 Jan 2026' }, 'end_date is invalid'],
  ];
  for (const [body, message] of cases) {
    const response = await post(group.id, body);
    t.deepEqual([response.status, response.body], [400, grape(message)], message);
  }
  t.is(await countRows(app, TABLE, { namespace_id: group.id }), 0);
});

test('POST: model errors as GitLab renders them (400 with the attribute hash), nothing stored', async (t) => {
  const group = await newGroup(app);
  const cases: Array<[unknown, Record<string, string[]>]> = [
    [{ start_date: null, seats: null }, { seats: ["can't be blank"], start_date: ["can't be blank"] }],
    [{ start_date: '' }, { start_date: ["can't be blank"] }],
    [{ start_date: '2026-01-01', trial: true }, { trial_ends_on: ["can't be blank"] }],
    [{ start_date: '2026-01-01', trial: true, trial_ends_on: '2025-12-31' }, { trial_ends_on: ['must be greater than 2026-01-01'] }],
    [{ start_date: '2026-01-01', trial: true, trial_starts_on: '2026-02-01', trial_ends_on: '2026-02-01' }, { trial_ends_on: ['must be greater than 2026-02-01'] }],
  ];
  for (const [body, fields] of cases) {
    const response = await post(group.id, body);
    t.deepEqual([response.status, response.body], [400, { message: fields }], JSON.stringify(body));
  }
  t.is(await countRows(app, TABLE, { namespace_id: group.id }), 0);
});

test('POST on a namespace that has a subscription: 400 namespace_id has already been taken, the first one kept', async (t) => {
  const group = await subscribedGroup();
  const again = await post(group.id, { start_date: '2027-01-01', seats: 99, plan_code: 'ultimate' });
  t.deepEqual([again.status, again.body], [400, { message: { namespace_id: ['has already been taken'] } }]);
  t.is(await countRows(app, TABLE, { namespace_id: group.id }), 1);
  t.like(await subscriptionRow(app, group.id), { seats: 10, plan_code: 'premium', start_date: '2026-07-15' });
});

test('POST, PUT and GET on an unknown namespace (id or path): 404 Namespace Not Found', async (t) => {
  for (const ref of ['99999', encodeURIComponent('no/such-group')]) {
    for (const method of ['POST', 'PUT', 'GET']) {
      const response = await app.request(subscriptionOf(ref), { method, token: ROOT_TOKEN, body: method === 'GET' ? undefined : { start_date: '2026-01-01' } });
      t.deepEqual([response.status, response.body], [404, NAMESPACE_NOT_FOUND], `${method} ${ref}`);
    }
  }
});

// --- GET -------------------------------------------------------------------------------------------

test('GET: the subscription by id and by full path; 404 GitlabSubscription Not Found without one', async (t) => {
  const group = await subscribedGroup({ plan_code: 'ultimate', seats: 5 });
  const expected = subscriptionJson({ code: 'ultimate', name: 'Ultimate', exclude_guests: true, seats: 5, seats_in_use: 1, start: '2026-07-15', end: '2027-07-15' });
  t.deepEqual([(await get(group.id)).status, (await get(group.id)).body], [200, expected]);
  t.deepEqual((await get(encodeURIComponent(group.fullPath))).body, expected);
  const bare = await newGroup(app);
  const none = await get(bare.id);
  t.deepEqual([none.status, none.body], [404, SUBSCRIPTION_NOT_FOUND]);
});

// --- PUT -------------------------------------------------------------------------------------------

test('PUT changes only what is sent; updated_at moves even when nothing changes', async (t) => {
  const group = await subscribedGroup({ max_seats_used: 42 });
  const before = await app.db(TABLE).where({ namespace_id: group.id }).first();
  app.clock.advance(60_000);
  const response = await put(group.id, { plan_code: 'premium', end_date: '2027-07-15' });
  t.is(response.status, 200);
  t.deepEqual(
    response.body,
    subscriptionJson({ code: 'premium', name: 'Premium', upgradable: true, seats: 10, seats_in_use: 1, max_seats_used: 42, seats_owed: 32, start: '2026-07-15', end: '2027-07-15' }),
  );
  const after = await app.db(TABLE).where({ namespace_id: group.id }).first();
  t.true(new Date(after.updated_at).getTime() > new Date(before.updated_at).getTime());

  const seats = await put(group.id, { seats: 50, auto_renew: false });
  t.like(seats.body.usage, { seats_in_subscription: 50, max_seats_used: 42, seats_owed: 0 });
  t.like(await subscriptionRow(app, group.id), { seats: 50, auto_renew: false, max_seats_used: 42, plan_code: 'premium', end_date: '2027-07-15' });
  // plan_code null is GitLab's free plan.
  const free = await put(group.id, { plan_code: null });
  t.like(free.body.plan, { code: 'free', name: 'Free', upgradable: false });
});

test('PUT: 404 without a subscription; Grape and model 400s leave the row alone', async (t) => {
  const bare = await newGroup(app);
  const none = await put(bare.id, { seats: 150 });
  t.deepEqual([none.status, none.body], [404, SUBSCRIPTION_NOT_FOUND]);
  t.is(await countRows(app, TABLE, { namespace_id: bare.id }), 0);

  const group = await subscribedGroup();
  const cases: Array<[unknown, unknown]> = [
    [{ seats: 'lots', start_date: 'yesterday' }, grape('start_date is invalid, seats is invalid')],
    [{ seats: null }, { message: { seats: ["can't be blank"] } }],
    [{ start_date: null }, { message: { start_date: ["can't be blank"] } }],
    // trial_starts_on is required with trial: true; it defaults only to a start_date sent along.
    [{ trial: true, trial_ends_on: '2026-12-31' }, { message: { trial_starts_on: ["can't be blank"] } }],
    [{ trial: true }, { message: { trial_ends_on: ["can't be blank"], trial_starts_on: ["can't be blank"] } }],
  ];
  for (const [body, expected] of cases) {
    const response = await put(group.id, body);
    t.deepEqual([response.status, response.body], [400, expected], JSON.stringify(body));
  }
  t.like(await subscriptionRow(app, group.id), { seats: 10, start_date: '2026-07-15', trial: false, trial_starts_on: null });
});

test('PUT trial: trial_starts_on from the request, else from start_date', async (t) => {
  const group = await subscribedGroup({ plan_code: 'ultimate_trial', seats: 0 });
  const explicit = await put(group.id, { trial: true, trial_starts_on: '2026-11-01', trial_ends_on: '2026-12-01' });
  t.is(explicit.status, 200, explicit.text);
  t.deepEqual(explicit.body.plan, { code: 'ultimate_trial', name: 'Ultimate Trial', trial: true, auto_renew: null, upgradable: false, exclude_guests: true });
  t.is(explicit.body.billing.trial_ends_on, '2026-12-01');
  t.like(await subscriptionRow(app, group.id), { trial: true, trial_starts_on: '2026-11-01', trial_ends_on: '2026-12-01' });
  const fromStart = await put(group.id, { trial: true, start_date: '2026-11-10', trial_ends_on: '2026-12-10' });
  t.is(fromStart.status, 200, fromStart.text);
  t.like(await subscriptionRow(app, group.id), { start_date: '2026-11-10', trial_starts_on: '2026-11-10', trial_ends_on: '2026-12-10' });
});

test('PUT starting a new term of a paid plan restarts max_seats_used from the seats in use (seats_owed with it)', async (t) => {
  const group = await subscribedGroup({ seats: 1, max_seats_used: 42 });
  await addGroupMember(app, group.id, (await newUser(app)).id, DEVELOPER);
  t.like((await get(group.id)).body.usage, { seats_in_use: 2, max_seats_used: 42, seats_owed: 41 });
  // Dates that overlap the current term are not a new term: the statistics stay.
  const same = await put(group.id, { start_date: '2026-08-01', end_date: '2027-08-01' });
  t.like(same.body.usage, { max_seats_used: 42, seats_owed: 41 });
  const renewed = await put(group.id, { start_date: '2027-08-01', end_date: '2028-08-01' });
  t.deepEqual(renewed.body.usage, { seats_in_subscription: 1, seats_in_use: 2, max_seats_used: 2, seats_owed: 1 });
  t.like(await subscriptionRow(app, group.id), { max_seats_used: 2, start_date: '2027-08-01', end_date: '2028-08-01' });
});

test('PUT ending a trial of a paid plan restarts max_seats_used too; a trial keeps it', async (t) => {
  const group = await subscribedGroup({ plan_code: 'ultimate', seats: 5, max_seats_used: 9, trial: true, trial_ends_on: '2026-08-15' });
  const stillTrial = await put(group.id, { seats: 6 });
  t.like(stillTrial.body.usage, { max_seats_used: 9, seats_owed: 0 });
  const converted = await put(group.id, { trial: false });
  t.deepEqual(converted.body.usage, { seats_in_subscription: 6, seats_in_use: 1, max_seats_used: 1, seats_owed: 0 });
  t.like(await subscriptionRow(app, group.id), { trial: false, max_seats_used: 1 });
});

// --- Plan flags and seats owed ---------------------------------------------------------------------

test('upgradable, exclude_guests and seats_owed follow the plan, the trial flag and the end date', async (t) => {
  const show = async (body: Record<string, unknown>) => (await get((await subscribedGroup(body)).id)).body;
  t.like((await show({ plan_code: 'premium', seats: 2, max_seats_used: 5 })).usage, { seats_owed: 3 });
  t.like((await show({ plan_code: 'premium', seats: 2, max_seats_used: 5 })).plan, { upgradable: true, exclude_guests: false });
  // Trials, free plans and seat-less subscriptions owe nothing and cannot be upgraded.
  const trial = await show({ plan_code: 'premium', seats: 2, max_seats_used: 5, trial: true, trial_ends_on: '2026-08-15' });
  t.like(trial.usage, { seats_owed: 0 });
  t.like(trial.plan, { upgradable: false, trial: true });
  t.like((await show({ plan_code: 'free', seats: 2, max_seats_used: 5 })).usage, { seats_owed: 0 });
  t.like((await show({ plan_code: 'premium', seats: 0, max_seats_used: 5 })).plan, { upgradable: false });
  // Top plans have nothing to upgrade to; an expired subscription (end before today, 2026-11-22) neither.
  t.like((await show({ plan_code: 'ultimate' })).plan, { upgradable: false, exclude_guests: true });
  t.like((await show({ plan_code: 'gold' })).plan, { upgradable: false, exclude_guests: true, name: 'Gold' });
  t.like((await show({ plan_code: 'premium', end_date: '2026-11-21' })).plan, { upgradable: false });
  t.like((await show({ plan_code: 'premium', end_date: '2026-11-22' })).plan, { upgradable: true });
});

// --- Seat counting ---------------------------------------------------------------------------------

test('seats_in_use: unique active members of the group, its subgroups and their projects; guests only where the plan counts them', async (t) => {
  const owner = await newUser(app);
  const group = await newGroup(app, { ownerId: owner.id });
  const subgroup = await newGroup(app, { parentId: group.id, ownerId: owner.id });
  const project = await newProject(app, subgroup.id);
  const topProject = await newProject(app, group.id);
  const [developer, guest, reporter, both, guestThenReporter] = await Promise.all([1, 2, 3, 4, 5].map(() => newUser(app)));
  await addGroupMember(app, group.id, developer.id, DEVELOPER);
  await addGroupMember(app, subgroup.id, guest.id, GUEST);
  await addProjectMember(app, project.id, reporter.id, REPORTER);
  await addGroupMember(app, group.id, both.id, DEVELOPER);
  await addProjectMember(app, topProject.id, both.id, DEVELOPER);
  await addGroupMember(app, subgroup.id, guestThenReporter.id, GUEST);
  await addProjectMember(app, project.id, guestThenReporter.id, REPORTER);
  // Someone else's group is not counted.
  const other = await newGroup(app);
  await addGroupMember(app, other.id, developer.id, DEVELOPER);

  await post(group.id, { start_date: '2026-07-15', plan_code: 'premium', seats: 10 });
  const seats = async () => (await get(group.id)).body.usage.seats_in_use as number;
  // owner, developer, guest, reporter, both (once), guestThenReporter (once)
  t.is(await seats(), 6);

  // Ultimate: Guests are free, but a Guest who is a Reporter somewhere in the hierarchy still counts.
  await put(group.id, { plan_code: 'ultimate' });
  t.is(await seats(), 5);
  await put(group.id, { plan_code: 'premium' });

  // Blocked users are not billable; unblocked they are again.
  const block = await app.request(`/api/v4/users/${developer.id}/block`, { method: 'POST', token: ROOT_TOKEN });
  t.is(block.status, 201, block.text);
  t.is(await seats(), 5);
  await app.request(`/api/v4/users/${developer.id}/unblock`, { method: 'POST', token: ROOT_TOKEN });
  t.is(await seats(), 6);

  // Members added and removed change the count at once.
  await addGroupMember(app, subgroup.id, (await newUser(app)).id, DEVELOPER);
  t.is(await seats(), 7);
  await app.db('directory_members').where({ source_type: 'namespace', source_id: subgroup.id, user_id: guest.id }).delete();
  t.is(await seats(), 6);
});

test('seats_in_use of a personal namespace is 1, whoever is on its projects', async (t) => {
  const user = await newUser(app);
  const namespaceId = await personalNamespaceId(app, user.id);
  const project = await newProject(app, namespaceId);
  await addProjectMember(app, project.id, (await newUser(app)).id, DEVELOPER);
  const response = await post(namespaceId, { start_date: '2026-07-15', plan_code: 'ultimate', seats: 1 });
  t.is(response.status, 201, response.text);
  t.deepEqual(response.body.usage, { seats_in_subscription: 1, seats_in_use: 1, max_seats_used: 0, seats_owed: 0 });
  // exclude_guests is a group matter: GitLab answers false for personal namespaces.
  t.is(response.body.plan.exclude_guests, false);
});
