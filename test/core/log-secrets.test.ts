import test from 'ava';
import { filterText, filterUrl, MAX_LOGGED_MESSAGE, MAX_LOGGED_STACK, serializeError } from '../../core/ops/log-filter.js';
import { REDACTED_PATHS } from '../../core/ops/observability.js';
import { definePlugin, type PluginDeps } from '../../core/plugins/types.js';
import { registry as defaultRegistry } from '../../core/plugins/registry.js';
import { backendName, ROOT_TOKEN, startTestApp, type TestApp } from '../helpers/app.js';
import { createUserWithToken } from '../helpers/fixtures.js';
import { shellSecretOf } from '../helpers/shell.js';
import { USER_APPS } from '../plugins/oauth-applications/_support.js';

// A battery of requests carrying every credential gatehouse knows, in every spelling the query parser
// accepts, then every captured log line searched for each of them. The app logs through the
// production loggers (the helper hands the gateway a destination, not a logger of its own).

const PASSWORD = 'Pa55word-never-logged-7f3a9c';
const OTHER_SECRET = 'client-secret-never-logged-51be0d';
const REFRESH = 'refresh-never-logged-c2d8e4';
const CODE = 'code-never-logged-90ab17';
/** A value that is only ever sent bound to a SQL statement. */
const BOUND_SECRET = 'bound-value-never-logged-4e1f77';

/** Routes that fail the ways real code fails: a database error with a large bound value, and a thrown error quoting a request. */
const probePlugin = definePlugin({
  name: 'log-probe',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'Test only: routes that fail with secrets in their errors.',
  services: (deps: PluginDeps<unknown>) => ({ db: deps.db }),
  routes: [
    {
      name: 'log-probe.insert',
      method: 'POST',
      path: '/api/v4/log_probe/insert',
      auth: { strategy: 'none', reason: 'test probe' },
      async handler(ctx: any, _input: unknown, services: any) {
        await services.db('log_probe_missing_table').insert({ value: `${BOUND_SECRET}${'x'.repeat(100_000)}`, digest: BOUND_SECRET });
        ctx.body = {};
      },
    },
    {
      name: 'log-probe.lookup',
      method: 'GET',
      path: '/api/v4/log_probe/lookup',
      auth: { strategy: 'none', reason: 'test probe' },
      async handler(ctx: any, _input: unknown, services: any) {
        // An integer column compared with a string: PostgreSQL quotes the value in its message.
        const rows = await services.db('directory_users').where('id', BOUND_SECRET).select('id');
        ctx.body = { rows: rows.length };
      },
    },
    {
      name: 'log-probe.throw',
      method: 'GET',
      path: '/api/v4/log_probe/throw',
      auth: { strategy: 'none', reason: 'test probe' },
      handler() {
        throw new Error(
          `upstream refused http://upstream.test/api?private_token=${ROOT_TOKEN}&password=${PASSWORD} with {"client_secret":"${OTHER_SECRET}","note":"${ROOT_TOKEN}"}`,
        );
      },
    },
  ],
});

let app: TestApp;
let secrets: string[];

test.before(async () => {
  app = await startTestApp({ captureLogs: true, config: { log: { requests: true } }, registry: [...defaultRegistry, probePlugin] });
});
test.after.always(() => app?.close());

/** Every form a secret could take in a line: as sent, URL-encoded, base64 (the legacy shell header). */
const spellings = (secret: string) => [secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64')];

function assertNoSecretLogged(t: any, values: string[]) {
  t.true(app.logs.length > 0);
  for (const line of app.logs) {
    const text = JSON.stringify(line);
    for (const value of values.flatMap(spellings)) t.false(text.includes(value), `${value} is in ${text.slice(0, 300)}`);
  }
}

const requestLine = (path: string) => app.logs.find((line) => line.msg === 'request' && line.url.startsWith(path.split('?')[0]) && line.requestId === lastIds.get(path));
const lastIds = new Map<string, string>();
async function send(path: string, options: Parameters<TestApp['request']>[1] = {}) {
  const response = await app.request(path, options);
  lastIds.set(path, response.headers.get('x-request-id')!);
  return response;
}
/** Request lines are written after the answer, on a later turn of the event loop. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

test.serial('credentials in query strings, however spelled, authenticate or not, and never reach a log line', async (t) => {
  const pat = (await createUserWithToken(app, ['api'], { admin: true })).plaintext;
  const shell = shellSecretOf(app);
  const created = await app.request(USER_APPS, { method: 'POST', token: ROOT_TOKEN, body: { name: 'log probe', redirect_uri: 'https://client.test/cb', scopes: 'api' } });
  t.is(created.status, 201);
  const appSecret: string = created.body.secret;
  secrets = [pat, ROOT_TOKEN, shell, appSecret, PASSWORD, OTHER_SECRET, REFRESH, CODE];

  const battery: Array<[string, number, string]> = [
    // [path, status, the url as logged]
    [`/api/v4/user?private_token=${pat}`, 200, '/api/v4/user?private_token=[FILTERED]'],
    [`/api/v4/user?private%5Ftoken=${pat}`, 200, '/api/v4/user?private_token=[FILTERED]'],
    [`/api/v4/user?%70rivate_token=${pat}`, 200, '/api/v4/user?private_token=[FILTERED]'],
    [`/api/v4/user?%70%72%69%76%61%74%65%5F%74%6F%6B%65%6E=${pat}`, 200, '/api/v4/user?private_token=[FILTERED]'],
    [`/api/v4/user?access_token=${pat}`, 200, '/api/v4/user?access_token=[FILTERED]'],
    [`/api/v4/user?access%5Ftoken=${pat}&per_page=5`, 200, '/api/v4/user?access_token=[FILTERED]&per_page=5'],
    [`/api/v4/user?private_token[]=${pat}`, 401, '/api/v4/user?private_token[]=[FILTERED]'],
    [`/api/v4/user?private_token%5B%5D=${pat}&private_token%5B%5D=${ROOT_TOKEN}`, 401, '/api/v4/user?private_token[]=[FILTERED]&private_token[]=[FILTERED]'],
    [`/api/v4/user?a[b][private_token]=${pat}`, 401, '/api/v4/user?a[b][private_token]=[FILTERED]'],
    [`/api/v4/user?%2570rivate_token=${pat}`, 401, '/api/v4/user?%70rivate_token=[FILTERED]'],
    [`/api/v4/user?Private_Token=${encodeURIComponent(pat)}`, 401, '/api/v4/user?Private_Token=[FILTERED]'],
    [`/api/v4/internal/check?secret_token=${shell}`, 200, '/api/v4/internal/check?secret_token=[FILTERED]'],
    [`/api/v4/internal/check?secret%5Ftoken=${shell}`, 200, '/api/v4/internal/check?secret_token=[FILTERED]'],
    [`/api/v4/internal/check?secret_token=${encodeURIComponent(`${shell}\n`)}`, 200, '/api/v4/internal/check?secret_token=[FILTERED]'],
    [`/api/v4/users?user[password]=${PASSWORD}&password=${PASSWORD}&new_password=${PASSWORD}`, 403, '/api/v4/users?user[password]=[FILTERED]&password=[FILTERED]&new_password=[FILTERED]'],
    [
      `/api/v4/user?client_secret=${appSecret}&refresh_token=${REFRESH}&code=${CODE}&token=${pat}&state=kept`,
      401,
      '/api/v4/user?client_secret=[FILTERED]&refresh_token=[FILTERED]&code=[FILTERED]&token=[FILTERED]&state=kept',
    ],
    [`/api/v4/version?search=plain+words&order_by=id`, 401, '/api/v4/version?search=plain+words&order_by=id'],
  ];
  for (const [path, status] of battery) t.is((await send(path)).status, status, path);
  await settle();
  for (const [path, , logged] of battery) t.is(requestLine(path)?.url, logged, path);
  assertNoSecretLogged(t, secrets);
});

test.serial('credentials in headers and bodies never reach a log line', async (t) => {
  const shell = shellSecretOf(app);
  const responses = [
    await app.request('/api/v4/user', { headers: { 'PRIVATE-TOKEN': ROOT_TOKEN } }),
    await app.request('/api/v4/user', { headers: { Authorization: `Bearer ${ROOT_TOKEN}` } }),
    await app.request('/api/v4/internal/check', { headers: { 'Gitlab-Shared-Secret': Buffer.from(shell).toString('base64') } }),
    await app.request('/api/v4/internal/check', { method: 'GET', headers: { 'Gitlab-Shared-Secret': 'bm90LXRoZS1zZWNyZXQ=' } }),
    await app.request('/api/v4/users', { method: 'POST', token: ROOT_TOKEN, body: { username: 'logprobe', name: 'Log Probe', email: 'logprobe@example.com', password: PASSWORD } }),
    await app.request('/api/v4/users', { method: 'POST', token: ROOT_TOKEN, form: { username: 'logprobe2', name: 'Log Probe', email: 'logprobe2@example.com', password: PASSWORD } }),
    await app.request('/api/v4/internal/allowed', { method: 'POST', form: { secret_token: shell, action: 'git-upload-pack', key_id: '1', project: 'x/y.git', protocol: 'ssh', changes: '_any' } }),
    await app.request(`${USER_APPS}?private_token=${ROOT_TOKEN}`, { method: 'POST', body: { name: 'x', redirect_uri: 'https://client.test/cb', scopes: 'api', secret: OTHER_SECRET } }),
  ];
  t.deepEqual(
    responses.map((response) => response.status),
    [200, 200, 200, 401, 201, 201, 404, 201],
  );
  await settle();
  assertNoSecretLogged(t, [...secrets, shell]);
});

test.serial('a database error is logged with its statement and no values, capped; a thrown error quoting a request is filtered', async (t) => {
  const insert = await send('/api/v4/log_probe/insert', { method: 'POST' });
  t.is(insert.status, 500);
  t.deepEqual(insert.body, { message: '500 Internal Server Error' });
  const lookup = await send('/api/v4/log_probe/lookup');
  // SQLite compares an integer column with a string without complaint; PostgreSQL refuses the value.
  t.is(lookup.status, backendName === 'postgresql' ? 500 : 200);
  const thrown = await send('/api/v4/log_probe/throw');
  t.is(thrown.status, 500);
  await settle();

  const failure = (path: string) => {
    const line = app.logs.find((logged) => logged.msg === 'request failed' && logged.requestId === lastIds.get(path));
    if (!line) throw new Error(`no error line for ${path}`);
    return line;
  };
  const inserted = failure('/api/v4/log_probe/insert');
  const text = JSON.stringify(inserted);
  t.true(text.length < 8_000, `the line is ${text.length} characters`);
  t.false(text.includes('xxxxxxxxxx'), 'no bound value');
  const placeholders = backendName === 'postgresql' ? '($1, $2)' : '(?, ?)';
  t.true(inserted.err.message.startsWith(`insert into ${backendName === 'postgresql' ? '"log_probe_missing_table" ("digest", "value")' : '`log_probe_missing_table` (`digest`, `value`)'} values ${placeholders} - `), inserted.err.message);
  t.false('bindings' in inserted.err);

  if (backendName === 'postgresql') {
    const looked = failure('/api/v4/log_probe/lookup');
    t.regex(looked.err.message, /^select "id" from "directory_users" where "id" = \$1 - invalid input syntax for type integer: "\[FILTERED\]"$/);
  }

  const message: string = failure('/api/v4/log_probe/throw').err.message;
  t.is(
    message,
    'upstream refused http://upstream.test/api?private_token=[FILTERED]&password=[FILTERED] with {"client_secret":"[FILTERED]","note":"[FILTERED]"}',
  );
  assertNoSecretLogged(t, [...secrets, BOUND_SECRET]);
});

// ---------------------------------------------------------------- the filters themselves

test('filterUrl: a URL without a query, or with nothing to filter, is logged as sent', (t) => {
  t.is(filterUrl('/api/v4/user'), '/api/v4/user');
  t.is(filterUrl('/api/v4/projects?search=a%20b&per_page=2'), '/api/v4/projects?search=a%20b&per_page=2');
  t.is(filterUrl('/api/v4/projects?'), '/api/v4/projects?');
  t.is(filterUrl('/x?private_token'), '/x?private_token=[FILTERED]');
  t.is(filterUrl('/x?%E0%A4%A=1&password=p'), '/x?%E0%A4%A=1&password=[FILTERED]', 'a malformed escape is left as sent');
  t.is(filterUrl('/x?pass+word=1&private+token=2'), '/x?pass+word=1&private token=[FILTERED]');
});

test('serializeError: long messages and stacks are cut, secrets cut short by the cut are still filtered, other fields dropped', (t) => {
  const error = Object.assign(new Error(`${'y'.repeat(MAX_LOGGED_MESSAGE - 20)} {"password":"${'p'.repeat(5_000)}" and ${'z'.repeat(1_000_000)}`), {
    code: 'E_PROBE',
    bindings: ['bound'],
    detail: 'Key (name)=(bound) already exists.',
    input: 'http://x/?private_token=abc',
  });
  const serialized = serializeError(error) as Record<string, any>;
  t.true(serialized.message.length < MAX_LOGGED_MESSAGE + 100);
  t.true(serialized.message.endsWith(`"password":"[FILTERED]"… [${error.message.length - MAX_LOGGED_MESSAGE} more characters]`), serialized.message.slice(-120));
  t.true(serialized.stack.length < MAX_LOGGED_STACK + 100);
  t.false(serialized.stack.includes('ppppp'));
  t.deepEqual(Object.keys(serialized).sort(), ['code', 'message', 'stack', 'type']);
  t.is(serialized.code, 'E_PROBE');
});

test('serializeError: causes and PostgreSQL-quoted values; non-errors become filtered text', (t) => {
  const cause = Object.assign(new Error('select 1 - value "glpat-0123456789abcdef" is out of range for type integer'), { routine: 'pg_strtoint32', severity: 'ERROR' });
  const error = new Error('lookup failed', { cause });
  t.deepEqual((serializeError(error) as any).cause.message, 'select 1 - value "[FILTERED]" is out of range for type integer');
  t.is(serializeError('token=abc&x=1'), 'token=[FILTERED]&x=1');
  t.is(filterText('Authorization failed for glpat-abcdefghijklmnop and gloas-0123456789'), 'Authorization failed for [FILTERED] and [FILTERED]');
});

test('the logged-object keys that carry credentials are redacted at the top and one level down', (t) => {
  for (const key of ['token', 'password', 'secret', 'private_token', 'access_token', 'secret_token', 'client_secret', 'refresh_token']) {
    t.true(REDACTED_PATHS.includes(key) && REDACTED_PATHS.includes(`*.${key}`), key);
  }
  t.false(REDACTED_PATHS.includes('*.code'), "an error's code stays readable");
});
