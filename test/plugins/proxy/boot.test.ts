import test from 'ava';
import { FakeUpstream, startProxyApp } from './_support.js';
import { startTestApp } from '../../helpers/app.js';

const token = { strategy: 'token', scopes: ['api'] };

test('routes colliding with another plugin, overlapping each other, naming unknown strategies or malformed upstream URLs abort boot, all listed together', async (t) => {
  const fake = await FakeUpstream.start();
  t.teardown(() => fake.close());
  const error = await t.throwsAsync(
    startProxyApp([
      { name: 'reports', path: '/reports', upstreams: ['not a url', 'ftp://files.example.com', `${fake.url}?x=1`], auth: token },
      { name: 'sub', path: '/reports/admin', methods: ['GET'], upstreams: [fake.url], auth: token },
      { name: 'grants', path: '/oauth/authorized_applications', methods: ['GET'], upstreams: [fake.url], auth: token },
      { name: 'mystery', path: '/mystery', upstreams: [fake.url], auth: { strategy: 'kerberos' } },
      { name: 'reports', path: '/other', upstreams: [fake.url], auth: token },
    ]),
  );
  const message = error!.message;
  t.regex(message, /routes\[0\] \(reports\): upstream "not a url" is not a URL/);
  t.regex(message, /routes\[0\] \(reports\): upstream "ftp:\/\/files\.example\.com" must be an http or https URL/);
  t.regex(message, /upstream "http:\/\/127\.0\.0\.1:\d+\?x=1" must not have a query or fragment/);
  t.regex(message, /routes\[1\] \(sub\): path \/reports\/admin overlaps route reports \(\/reports\)/);
  t.regex(message, /routes\[4\] \(reports\): name "reports" is used by another route/);
  t.regex(message, /route proxy\.grants\.get \(GET \/oauth\/authorized_applications and below\) collides with oauth-provider\.authorized-applications \(GET \/oauth\/authorized_applications\)/);
  t.regex(message, /proxy\.mystery\.get .*uses unknown auth strategy "kerberos"/);
});

test('a route without auth, or public without a reason, is a config error naming its key', async (t) => {
  const error = await t.throwsAsync(
    startProxyApp([
      { name: 'a', path: '/a', upstreams: ['http://127.0.0.1:9'] },
      { name: 'b', path: '/b', upstreams: ['http://127.0.0.1:9'], auth: { strategy: 'none' } },
      { name: 'c', path: '/c/', upstreams: ['http://127.0.0.1:9'], auth: token, methods: ['TRACE'] },
    ]),
  );
  const message = error!.message;
  t.regex(message, /plugins\.proxy\.routes\.0\.auth/);
  t.regex(message, /plugins\.proxy\.routes\.1\.auth.*reason/);
  t.regex(message, /plugins\.proxy\.routes\.2\.path/);
  t.regex(message, /plugins\.proxy\.routes\.2\.methods/);
});

test('without routes the plugin serves nothing and needs no key', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.close());
  t.deepEqual([...app.services.proxy.routes.keys()], []);
  t.is((await app.request('/reports')).status, 404);
});
