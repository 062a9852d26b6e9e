import test from 'ava';
import { ConfigError, loadConfig } from '../../core/config/loader.js';
import { registry } from '../../core/plugins/registry.js';
import { createIpAllowlist } from '../../core/util/ip-allowlist.js';
import { backendName, startTestApp, type TestApp } from '../helpers/app.js';

// `/-/readiness` and `/-/metrics` answer monitoring clients only (GitLab's monitoring.ip_whitelist);
// anyone else gets the 404 an unknown path gets. `/-/health` stays open to every client.

const NOT_FOUND = { message: '404 Not Found' };
const MONITORING = ['/-/readiness', '/-/metrics'];

/** Status and body of a GET, as the client at `forwardedFor` (through a trusted proxy) when given. */
async function probe(app: TestApp, path: string, forwardedFor?: string) {
  const response = await app.request(path, { headers: forwardedFor ? { 'X-Forwarded-For': forwardedFor } : {} });
  return { status: response.status, body: response.status === 404 ? response.body : undefined };
}

const allowed = { status: 200, body: undefined };
const hidden = { status: 404, body: NOT_FOUND };

test(`${backendName}: by default, loopback clients read readiness and metrics`, async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.close());
  for (const path of [...MONITORING, '/-/health']) t.deepEqual(await probe(app, path), allowed, path);
  const metrics = await app.request('/-/metrics');
  t.regex(metrics.text, /^# HELP /m);
});

test(`${backendName}: behind a trusted proxy, the forwarded client IP decides; IPv4-mapped IPv6 matches IPv4 entries; health stays open`, async (t) => {
  const app = await startTestApp({ config: { server: { trustProxy: true, maxIpsCount: 1 } } });
  t.teardown(() => app.close());
  for (const client of ['127.0.0.1', '127.9.8.7', '::1', '::ffff:127.0.0.1']) {
    for (const path of MONITORING) t.deepEqual(await probe(app, path, client), allowed, `${path} from ${client}`);
  }
  for (const client of ['203.0.113.7', '::ffff:203.0.113.7', '2001:db8::1', '::2']) {
    for (const path of MONITORING) t.deepEqual(await probe(app, path, client), hidden, `${path} from ${client}`);
    t.deepEqual(await app.request('/-/health', { headers: { 'X-Forwarded-For': client } }).then((r) => [r.status, r.body]), [200, { status: 'ok' }]);
  }
  // Only the right-most entry (the one the trusted proxy added) counts: a client cannot prepend its way in.
  for (const path of MONITORING) t.deepEqual(await probe(app, path, '127.0.0.1, 203.0.113.7'), hidden, path);
});

test(`${backendName}: an allowlist of other networks refuses the direct loopback client, and without trustProxy X-Forwarded-For is ignored`, async (t) => {
  const app = await startTestApp({ config: { monitoring: { ipAllowlist: ['10.0.0.0/8', '2001:db8::/32'] } } });
  t.teardown(() => app.close());
  for (const path of MONITORING) {
    t.deepEqual(await probe(app, path), hidden, path);
    t.deepEqual(await probe(app, path, '10.1.2.3'), hidden, `${path}: the header is not trusted`);
  }
  const refused = await app.request('/-/readiness');
  t.is(refused.headers.get('content-type'), 'application/json');
  t.truthy(refused.headers.get('x-request-id'));
  t.is((await app.request('/-/health')).status, 200);
});

test('allowlist matching: addresses, CIDR ranges, IPv6, and IPv4-mapped IPv6 both ways', (t) => {
  const matches = createIpAllowlist(['10.0.0.0/8', '192.168.1.7', '2001:db8::/32', '::ffff:172.16.0.0/108']);
  const cases: Array<[string, boolean]> = [
    ['10.255.0.1', true],
    ['11.0.0.1', false],
    ['192.168.1.7', true],
    ['192.168.1.8', false],
    ['::ffff:10.1.1.1', true],
    ['2001:db8:ffff::1', true],
    ['2001:db9::1', false],
    ['172.16.5.5', true],
    ['172.32.0.1', false],
    ['', false],
    ['not-an-ip', false],
  ];
  t.deepEqual(
    cases.map(([ip]) => [ip, matches(ip)]),
    cases,
  );
});

test('an entry that is neither an address nor a CIDR range is a configuration error naming its key', (t) => {
  const error = t.throws(() =>
    loadConfig({ plugins: registry, files: false, env: { GATEHOUSE_MONITORING__IP_ALLOWLIST: '127.0.0.0/8,localhost,10.0.0.0/33' } }),
  );
  t.true(error instanceof ConfigError);
  t.deepEqual(
    (error as ConfigError).problems.map((problem) => [problem.path, problem.message]),
    [
      ['monitoring.ipAllowlist.1', 'must be an IP address or a CIDR range'],
      ['monitoring.ipAllowlist.2', 'must be an IP address or a CIDR range'],
    ],
  );
});
