import test from 'ava';
import { calculateJwkThumbprint, createLocalJWKSet, createRemoteJWKSet, jwtVerify } from 'jose';
import { ConfigError, loadConfig } from '../../core/config/loader.js';
import { createMemorySecretStore } from '../../core/config/secrets.js';
import { registry } from '../../core/plugins/registry.js';
import { definePlugin } from '../../core/plugins/types.js';
import { generateSigningKeyPem } from '../../core/signing/instance-keys.js';
import { EXTERNAL_URL, startTestApp, type TestApp, type TestAppOptions } from '../helpers/app.js';

// Core owns the instance key: it loads it once, hands it to every plugin, and publishes it (JWKS and
// OpenID discovery) whichever plugins are enabled.

const CACHE_CONTROL = 'max-age=86400, public, must-revalidate, no-transform';
const NOW = new Date('2026-11-22T10:00:00.000Z');
const VERIFIER_DOCUMENT = {
  issuer: EXTERNAL_URL,
  jwks_uri: `${EXTERNAL_URL}/oauth/discovery/keys`,
  subject_types_supported: ['public'],
  id_token_signing_alg_values_supported: ['RS256'],
};

/** Only the plugins every gateway needs: the key is published without code-suggestions or oauth-provider. */
const WITHOUT_KEY_PLUGINS = { 'code-suggestions': { enabled: false }, 'oauth-provider': { enabled: false } };

async function appWithout(t: { teardown(fn: () => Promise<void>): void }, options: TestAppOptions = {}): Promise<TestApp> {
  const config = (options.config ?? {}) as { plugins?: Record<string, unknown> };
  const app = await startTestApp({ ...options, config: { ...config, plugins: { ...WITHOUT_KEY_PLUGINS, ...(config.plugins ?? {}) } } });
  t.teardown(() => app.close());
  return app;
}

/** A JWT signed with the gateway's instance key, as any plugin signs. */
const signed = (app: TestApp, sub: string) => {
  const iat = Math.floor(NOW.getTime() / 1000);
  return app.gateway.instanceKeys.sign({ iss: EXTERNAL_URL, aud: 'tests', sub, iat, exp: iat + 3600 });
};
const VERIFY = { issuer: EXTERNAL_URL, audience: 'tests', algorithms: ['RS256'], currentDate: NOW };

test('JWKS: /oauth/discovery/keys and /-/jwks publish the RSA key with its RFC 7638 kid, public and cached for a day, with code-suggestions and oauth-provider disabled', async (t) => {
  const app = await appWithout(t);
  t.false(app.gateway.plugins.some((plugin) => plugin.name === 'code-suggestions' || plugin.name === 'oauth-provider'));
  for (const path of ['/oauth/discovery/keys', '/-/jwks']) {
    const response = await app.request(path);
    t.is(response.status, 200);
    t.is(response.headers.get('cache-control'), CACHE_CONTROL);
    t.regex(response.headers.get('content-type')!, /^application\/json/);
    t.is(response.body.keys.length, 1);
    const [key] = response.body.keys;
    t.deepEqual(Object.keys(key), ['kty', 'kid', 'e', 'n', 'use', 'alg']);
    t.like(key, { kty: 'RSA', e: 'AQAB', use: 'sig', alg: 'RS256', kid: app.gateway.instanceKeys.currentKid });
    t.is(key.kid, await calculateJwkThumbprint({ kty: 'RSA', e: key.e, n: key.n }, 'sha256'));
    t.false('d' in key, 'no private part');
  }
  const { payload } = await jwtVerify(await signed(app, 'alice'), createRemoteJWKSet(new URL(`${app.url}/oauth/discovery/keys`)), VERIFY);
  t.is(payload.sub, 'alice');
});

test('OpenID discovery without an authorization server: the issuer and the JWKS URL, cached for a day', async (t) => {
  const app = await appWithout(t);
  const response = await app.request('/.well-known/openid-configuration');
  t.is(response.status, 200);
  t.is(response.headers.get('cache-control'), CACHE_CONTROL);
  t.deepEqual(response.body, VERIFIER_DOCUMENT);
  t.deepEqual(Object.keys(response.body), Object.keys(VERIFIER_DOCUMENT));
});

test('plugins get the instance key and extend the discovery document through their deps, in load order', async (t) => {
  let extendLater: (() => void) | undefined;
  const plugin = (name: string, field: string, dependsOn: string[] = []) =>
    definePlugin({
      name,
      version: '1.0.0',
      core: '^1.0.0',
      description: `Adds ${field} to discovery.`,
      dependsOn: dependsOn as never[],
      services: (deps) => {
        deps.discovery.extend((document, issuer) => ({ ...document, [field]: `${issuer}/${name}`, seen_by: [...((document.seen_by as string[]) ?? []), name] }));
        extendLater ??= () => deps.discovery.extend((document) => document);
        return { kid: deps.instanceKeys.currentKid };
      },
    });
  const app = await appWithout(t, { registry: [...registry, plugin('first-extension', 'first_endpoint'), plugin('second-extension', 'second_endpoint', ['first-extension'])] });
  t.is(app.services['first-extension'].kid, app.gateway.instanceKeys.currentKid);
  const response = await app.request('/.well-known/openid-configuration');
  t.deepEqual(response.body, {
    ...VERIFIER_DOCUMENT,
    first_endpoint: `${EXTERNAL_URL}/first-extension`,
    seen_by: ['first-extension', 'second-extension'],
    second_endpoint: `${EXTERNAL_URL}/second-extension`,
  });
  t.throws(() => extendLater!(), { message: 'the discovery document is already served: extend it while building services' });
});

test('key rotation: signing.previousKeyFiles keeps the old key published, current key first; dropped, its tokens no longer verify', async (t) => {
  const secrets = createMemorySecretStore();
  secrets.ensure('old.pem', generateSigningKeyPem);
  const before = await startTestApp({ secrets, config: { signing: { keyFile: 'old.pem' } } });
  const oldKid = before.gateway.instanceKeys.currentKid;
  const oldToken = await signed(before, 'old');
  await before.close();

  const after = await appWithout(t, { secrets, config: { signing: { keyFile: 'new.pem', previousKeyFiles: ['old.pem'] } } });
  const newKid = after.gateway.instanceKeys.currentKid;
  t.not(newKid, oldKid);
  t.deepEqual((await after.request('/oauth/discovery/keys')).body.keys.map((key: { kid: string }) => key.kid), [newKid, oldKid]);
  const jwks = createRemoteJWKSet(new URL(`${after.url}/-/jwks`));
  t.is((await jwtVerify(oldToken, jwks, VERIFY)).protectedHeader.kid, oldKid);
  t.is((await jwtVerify(await signed(after, 'new'), jwks, VERIFY)).protectedHeader.kid, newKid);

  const later = await appWithout(t, { secrets, config: { signing: { keyFile: 'new.pem' } } });
  const published = createLocalJWKSet((await later.request('/oauth/discovery/keys')).body);
  await t.throwsAsync(jwtVerify(oldToken, published, VERIFY));
});

test('a previous signing key file that does not exist stops boot, naming it', async (t) => {
  const error = await t.throwsAsync(startTestApp({ config: { signing: { previousKeyFiles: ['gone.pem'] } } }));
  t.is(error!.message, 'previous signing key file gone.pem does not exist');
});

test('the signing key is generated once in .gatehouse_oidc_signing_key, as PKCS#8 PEM, and reused by the next boot', async (t) => {
  const secrets = createMemorySecretStore();
  const first = await startTestApp({ secrets });
  const kid = first.gateway.instanceKeys.currentKid;
  await first.close();
  t.regex(secrets.ensure('.gatehouse_oidc_signing_key', () => 'regenerated'), /^-----BEGIN PRIVATE KEY-----\n[\s\S]+-----END PRIVATE KEY-----\n?$/);
  const second = await appWithout(t, { secrets });
  t.is(second.gateway.instanceKeys.currentKid, kid);
});

test('the plugins\' former key settings are refused, naming where they moved (in files and in the environment)', (t) => {
  const error = t.throws(
    () =>
      loadConfig({
        plugins: registry,
        files: false,
        env: { GATEHOUSE_PLUGINS__PROXY__SIGNING_KEY_FILE: 'proxy.pem' },
        overrides: { plugins: { 'code-suggestions': { signingKeyFile: 'key.pem', previousSigningKeyFiles: ['old.pem'] } } },
      }),
    { instanceOf: ConfigError },
  );
  t.is(
    error!.message,
    [
      'invalid configuration:',
      '  GATEHOUSE_PLUGINS__PROXY__SIGNING_KEY_FILE: unknown environment variable: moved to signing.keyFile (GATEHOUSE_SIGNING__KEY_FILE)',
      '  plugins.code-suggestions.signingKeyFile: unknown key: moved to signing.keyFile (GATEHOUSE_SIGNING__KEY_FILE)',
      '  plugins.code-suggestions.previousSigningKeyFiles: unknown key: moved to signing.previousKeyFiles (GATEHOUSE_SIGNING__PREVIOUS_KEY_FILES)',
    ].join('\n'),
  );
});
