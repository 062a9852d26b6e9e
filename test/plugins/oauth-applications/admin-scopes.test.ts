import test from 'ava';
import { ROOT_TOKEN, backendName, startTestApp, type TestApp } from '../../helpers/app.js';
import {
  CANT_BE_BLANK,
  INSTANCE_APPS,
  SCOPES_NOT_CONFIGURED,
  USER_APPS,
  appBody,
  appJson,
  appRow,
  countApps,
  createApp,
  modelError,
  snapshot,
  statusAndBody,
  userApp,
  userWithToken,
} from './_support.js';

// `sudo` and `admin_mode` are administrators' scopes (GitLab's `available_scopes_for(user)`): a user
// who is not an administrator cannot give them to an application, and is answered as for a scope
// the server does not know. Serial: one test compares the whole table before and after.

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

const ADMIN_SCOPE_SETS = ['api sudo', 'admin_mode', 'read_user sudo admin_mode'];
const refused = [400, modelError({ scopes: [SCOPES_NOT_CONFIGURED] })];

test.serial(`${backendName}: a user who is not an admin cannot create an application with sudo or admin_mode; nothing stored`, async (t) => {
  const { user, plaintext } = await userWithToken(app);
  const before = await snapshot(app);
  for (const scopes of ADMIN_SCOPE_SETS) {
    const response = await app.request(USER_APPS, { method: 'POST', token: plaintext, body: appBody({ scopes }) });
    t.deepEqual(statusAndBody(response), refused, scopes);
    const asForm = await app.request(USER_APPS, { method: 'POST', token: plaintext, form: { name: 'f', redirect_uri: 'https://f.example/cb', scopes } });
    t.deepEqual(statusAndBody(asForm), refused, `${scopes} (form)`);
  }
  const withOtherErrors = await app.request(USER_APPS, { method: 'POST', token: plaintext, body: appBody({ name: '', scopes: 'api sudo' }) });
  t.deepEqual(statusAndBody(withOtherErrors), [400, modelError({ name: [CANT_BE_BLANK], scopes: [SCOPES_NOT_CONFIGURED] })]);
  t.is(await countApps(app, { owner_id: user.id }), 0);
  t.deepEqual(await snapshot(app), before);
});

test.serial(`${backendName}: a user who is not an admin cannot add sudo or admin_mode to their application; the row is unchanged`, async (t) => {
  const { plaintext } = await userWithToken(app);
  const created = await createApp(t, app, plaintext);
  const before = await appRow(app, created.id);
  for (const scopes of ADMIN_SCOPE_SETS) {
    const response = await app.request(userApp(created.id), { method: 'PUT', token: plaintext, body: { name: 'renamed', scopes } });
    t.deepEqual(statusAndBody(response), refused, scopes);
  }
  t.deepEqual(await appRow(app, created.id), before);
});

test.serial(`${backendName}: an admin may give their own application sudo and admin_mode, on create and on update`, async (t) => {
  const admin = await userWithToken(app, ['api'], { admin: true });
  const created = await createApp(t, app, admin.plaintext, USER_APPS, appBody({ scopes: 'api sudo' }));
  t.deepEqual(created.scopes, ['api', 'sudo']);
  t.deepEqual((await appRow(app, created.id))?.scopes, ['api', 'sudo']);

  const updated = await app.request(userApp(created.id), { method: 'PUT', token: admin.plaintext, body: { scopes: 'read_user admin_mode' } });
  t.deepEqual(statusAndBody(updated), [200, appJson(created, { scopes: ['read_user', 'admin_mode'] })]);
  t.deepEqual((await appRow(app, created.id))?.scopes, ['read_user', 'admin_mode']);
});

test.serial(`${backendName}: an admin acting as a user through Sudo is that user: refused; instance-wide applications may carry them`, async (t) => {
  const { user } = await userWithToken(app);
  const admin = await userWithToken(app, ['api', 'sudo'], { admin: true });
  const asUser = await app.request(USER_APPS, { method: 'POST', token: admin.plaintext, headers: { Sudo: user.username }, body: appBody({ scopes: 'api sudo' }) });
  t.deepEqual(statusAndBody(asUser), refused);
  t.is(await countApps(app, { owner_id: user.id }), 0);

  const instance = await createApp(t, app, ROOT_TOKEN, INSTANCE_APPS, appBody({ name: 'instance admin tool', scopes: 'api sudo admin_mode' }));
  t.deepEqual((await appRow(app, instance.id))?.scopes, ['api', 'sudo', 'admin_mode']);
  t.is((await appRow(app, instance.id))?.owner_id, null);
});

test.serial(`${backendName}: scopes an application already holds are kept when its owner, no admin, changes something else`, async (t) => {
  const { user, plaintext } = await userWithToken(app);
  // Granted by an administrator (the owner may since have lost that role); the owner only renames it.
  const { application } = await app.services['oauth-applications'].applications.create({ isAdmin: true }, user.id, {
    name: 'granted',
    redirectUri: 'https://granted.example/cb',
    scopes: ['api', 'sudo'],
    confidential: true,
  });
  const renamed = await app.request(userApp(application.id), { method: 'PUT', token: plaintext, body: { name: 'renamed' } });
  t.is(renamed.status, 200, renamed.text);
  t.deepEqual(renamed.body.scopes, ['api', 'sudo']);
  t.deepEqual((await appRow(app, application.id))?.scopes, ['api', 'sudo']);
  t.is((await appRow(app, application.id))?.name, 'renamed');
});
