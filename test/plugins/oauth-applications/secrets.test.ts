import test from 'ava';
import { ROOT_TOKEN, startTestApp } from '../../helpers/app.js';
import { pepperedDigest } from '../../../core/util/secrets.js';
import { INSTANCE_APPS, USER_APPS, appRow, createApp, instanceApp, userApp, userWithToken } from './_support.js';

test('the secret is shown once: in the create and renew answers only, never in a GET or PUT answer nor in any log line', async (t) => {
  const app = await startTestApp({ captureLogs: true, config: { log: { requests: true } } });
  t.teardown(() => app.close());
  const { plaintext } = await userWithToken(app);
  const own = await createApp(t, app, plaintext);
  const instance = await createApp(t, app, ROOT_TOKEN, INSTANCE_APPS);
  const renewed = await app.request(`${instanceApp(instance.id)}/renew-secret`, { method: 'POST', token: ROOT_TOKEN });
  t.is(renewed.status, 201);
  const secrets = [own.secret, instance.secret, renewed.body.secret];

  const later = [
    await app.request(USER_APPS, { token: plaintext }),
    await app.request(userApp(own.id), { token: plaintext }),
    await app.request(userApp(own.id), { method: 'PUT', token: plaintext, body: { name: 'renamed', scopes: 'api' } }),
    await app.request(userApp(own.id), { method: 'PUT', token: plaintext, body: { secret: own.secret } }),
    await app.request(INSTANCE_APPS, { token: ROOT_TOKEN }),
    // A secret sent where a token goes must not land in the log either.
    await app.request(`${USER_APPS}?private_token=${own.secret}`),
    await app.request(USER_APPS, { method: 'POST', token: plaintext, body: { name: own.secret, redirect_uri: 'nope', scopes: 'api' } }),
  ];
  t.deepEqual(later.map((response) => response.status), [200, 200, 200, 200, 200, 401, 400]);
  for (const response of later.slice(0, 5)) {
    t.false(/secret/.test(response.text), response.text);
    for (const secret of secrets) t.false(response.text.includes(secret));
  }

  const requestLines = app.logs.filter((line) => line.msg === 'request');
  t.true(requestLines.some((line) => line.route === 'oauth-applications.create-own' && line.status === 201));
  t.true(requestLines.some((line) => line.route === 'oauth-applications.renew-secret' && line.status === 201));
  const everything = JSON.stringify(app.logs);
  for (const secret of secrets) {
    t.false(everything.includes(secret), 'the secret is in a log line');
    t.false(everything.includes(secret.slice('gloas-'.length)), 'the secret\'s hex is in a log line');
  }
});

test('the stored digest is the secret peppered with the plugin\'s own secret file', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.close());
  const pepper = app.secrets.ensure('.gatehouse_oauth_application_pepper', () => {
    throw new Error('the pepper file should exist already');
  });
  t.regex(pepper, /^[0-9a-f]{64}$/);
  const tokenPepper = app.secrets.ensure('.gatehouse_token_pepper', () => 'unused');
  t.not(pepper, tokenPepper);
  const created = await createApp(t, app, ROOT_TOKEN);
  t.is((await appRow(app, created.id))?.secret_digest, pepperedDigest(created.secret, pepper));
});
