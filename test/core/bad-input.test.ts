import { randomInt } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import test from 'ava';
import { ROOT_TOKEN, backendName, startTestApp, type TestApp, type TestResponse } from '../helpers/app.js';
import { MANY_TERMS } from '../helpers/battery.js';
import { createUserWithToken } from '../helpers/fixtures.js';
import { kasHeaders, agentFixture } from '../plugins/kubernetes-agent/_support.js';

/** GitLab's malformed-strings middleware: plain text, before any API code. */
const MALFORMED = 'Bad Request';
const UNREADABLE_BODY = { message: '400 Bad request - Malformed request body: the compressed body does not decompress' };
const TOO_LONG = ['is too long (maximum is 255 characters)'];
const TAKEN = ['has already been taken'];
const INT32_OVERFLOW = '2147483648';
const INT64_OVERFLOW = '9223372036854775808';
const CONCURRENT = 8;
const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyz0123456789';

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

const unique = (prefix: string) => `${prefix}${Math.random().toString(36).slice(2, 10)}`;
const storedUsers = (username: string) => app.db('directory_users').where({ username });

/** A request with a raw body and exactly the headers given (the fetch-based helper adds its own, and limits answer headers to 16 KiB). */
function rawRequest(method: string, path: string, headers: Record<string, string>, body: Buffer): Promise<TestResponse> {
  const url = new URL(app.url);
  return new Promise((resolve, reject) => {
    // Pagination links repeat the query, so the answer to a query of thousands of terms has long headers.
    const options = { host: url.hostname, port: url.port, method, path, headers: { ...headers, 'Content-Length': String(body.length) }, maxHeaderSize: 1024 * 1024 };
    const req = httpRequest(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const type = String(res.headers['content-type'] ?? '');
        resolve({ status: res.statusCode!, headers: new Headers(res.headers as Record<string, string>), text, body: type.includes('json') && text ? JSON.parse(text) : text });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

function assertMalformed(t: any, response: TestResponse) {
  t.is(response.status, 400, response.text);
  t.is(response.text, MALFORMED);
  t.is(response.headers.get('content-type'), 'text/plain');
  t.truthy(response.headers.get('x-request-id'));
}

// ---------------------------------------------------------------- compressed bodies

test(`a truncated or invalid gzip body, and an invalid deflate body, are 400 and store nothing (${backendName})`, async (t) => {
  const username = unique('gz');
  const body = Buffer.from(JSON.stringify({ username, name: 'Gz', email: `${username}@example.com`, password: 'correct-horse-battery' }));
  const gzipped = gzipSync(body);
  const auth = { 'PRIVATE-TOKEN': ROOT_TOKEN, 'Content-Type': 'application/json' };
  for (const [encoding, bytes] of [
    ['gzip', gzipped.subarray(0, gzipped.length - 8)],
    ['gzip', gzipped.subarray(0, 12)],
    ['gzip', Buffer.from('plainly not gzip')],
    ['deflate', Buffer.from('plainly not deflate')],
  ] as const) {
    const response = await rawRequest('POST', '/api/v4/users', { ...auth, 'Content-Encoding': encoding }, bytes);
    t.is(response.status, 400, `${encoding} ${bytes.length}: ${response.text}`);
    t.deepEqual(response.body, UNREADABLE_BODY);
  }
  // A form body is read by the same parser.
  const form = await rawRequest('POST', '/api/v4/users', { 'PRIVATE-TOKEN': ROOT_TOKEN, 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Encoding': 'gzip' }, Buffer.from([0x1f, 0x8b, 0x08, 0x00]));
  t.is(form.status, 400);
  t.deepEqual(form.body, UNREADABLE_BODY);
  t.deepEqual(await storedUsers(username), []);
  // The whole gzip body is still read.
  const whole = await rawRequest('POST', '/api/v4/users', { ...auth, 'Content-Encoding': 'gzip' }, gzipped);
  t.is(whole.status, 201, whole.text);
});

// ---------------------------------------------------------------- NUL bytes

test(`a NUL byte in a JSON, form or query parameter, or in the path, is 400 Bad Request before authentication; nothing stored (${backendName})`, async (t) => {
  const username = unique('nul');
  const fields = { username, name: 'Nul', email: `${username}@example.com`, password: 'correct-horse-battery' };
  assertMalformed(t, await app.request('/api/v4/users', { method: 'POST', token: ROOT_TOKEN, body: { ...fields, name: 'Nul\u0000Byte' } }));
  assertMalformed(t, await app.request('/api/v4/users', { method: 'POST', token: ROOT_TOKEN, form: { ...fields, name: 'Nul\u0000Byte' } }));
  assertMalformed(t, await app.request(`/api/v4/users?name=Nul%00Byte`, { method: 'POST', token: ROOT_TOKEN, body: fields }));
  // Nested in arrays and objects, and in a key.
  assertMalformed(t, await app.request('/api/v4/user/personal_access_tokens', { method: 'POST', token: ROOT_TOKEN, body: { name: 'n', scopes: ['k8s_proxy', 'a\u0000'] } }));
  assertMalformed(t, await app.request('/api/v4/code_suggestions/completions', { method: 'POST', token: ROOT_TOKEN, body: { current_file: { file_name: 'a\u0000.py', content_above_cursor: '' } } }));
  assertMalformed(t, await app.request('/api/v4/users', { method: 'POST', token: ROOT_TOKEN, body: { ...fields, 'x\u0000': 'y' } }));
  // In a path parameter, with or without credentials (GitLab answers before any authentication).
  assertMalformed(t, await app.request('/api/v4/projects/a%00b', { token: ROOT_TOKEN }));
  assertMalformed(t, await app.request('/api/v4/users/1%00/block', { method: 'POST' }));
  assertMalformed(t, await app.request('/api/v4/personal_access_tokens?search=%00'));
  t.deepEqual(await storedUsers(username), []);
  // The same request without the byte goes through.
  const created = await app.request('/api/v4/users', { method: 'POST', token: ROOT_TOKEN, body: fields });
  t.is(created.status, 201, created.text);
});

// ---------------------------------------------------------------- out-of-range ids

test(`ids beyond what an id column holds are not found, never a database error (${backendName})`, async (t) => {
  const notFound = async (path: string, body: object, method = 'GET') => {
    const response = await app.request(path, { method, token: ROOT_TOKEN });
    t.is(response.status, 404, `${method} ${path}: ${response.text}`);
    t.deepEqual(response.body, body, `${method} ${path}`);
  };
  for (const id of [INT32_OVERFLOW, INT64_OVERFLOW, `9${'9'.repeat(400)}`]) {
    await notFound(`/api/v4/projects/${id}`, { message: '404 Project Not Found' });
    await notFound(`/api/v4/groups/${id}`, { message: '404 Group Not Found' });
    await notFound(`/api/v4/namespaces/${id}/gitlab_subscription`, { message: '404 Namespace Not Found' });
    await notFound(`/api/v4/projects/${id}/cluster_agents`, { message: '404 Project Not Found' });
  }
  // Integer-typed ids within JavaScript's exact range.
  await notFound(`/api/v4/users/${INT32_OVERFLOW}`, { message: '404 User Not Found' });
  await notFound(`/api/v4/users/${INT32_OVERFLOW}/block`, { message: '404 User Not Found' }, 'POST');
  await notFound(`/api/v4/personal_access_tokens/${INT32_OVERFLOW}`, { message: '404 Not Found' });
  await notFound(`/api/v4/users/${INT32_OVERFLOW}/impersonation_tokens`, { message: '404 User Not Found' });
  await notFound(`/api/v4/user/applications/${INT32_OVERFLOW}`, { message: '404 Application Not Found' });
  const { project } = await agentFixture(app);
  await notFound(`/api/v4/projects/${project.id}/cluster_agents/${INT32_OVERFLOW}`, { message: '404 Not found' });
  // Beyond JavaScript's exact integers, an Integer parameter is invalid.
  const invalid = await app.request(`/api/v4/users/${INT64_OVERFLOW}`, { token: ROOT_TOKEN });
  t.is(invalid.status, 400);
  t.deepEqual(invalid.body, { error: 'id is invalid' });
});

// ---------------------------------------------------------------- stored string lengths

test(`a user name or email over 255 characters is a model error and nothing is stored; 255 is accepted (${backendName})`, async (t) => {
  const username = unique('long');
  const fields = { username, name: 'Long', email: `${username}@example.com`, password: 'correct-horse-battery' };
  const tooLongName = await app.request('/api/v4/users', { method: 'POST', token: ROOT_TOKEN, body: { ...fields, name: 'n'.repeat(256) } });
  t.is(tooLongName.status, 400);
  t.deepEqual(tooLongName.body, { message: { name: TOO_LONG } });
  const tooLongEmail = await app.request('/api/v4/users', { method: 'POST', token: ROOT_TOKEN, body: { ...fields, email: `${'e'.repeat(250)}@example.com` } });
  t.is(tooLongEmail.status, 400);
  t.deepEqual(tooLongEmail.body, { message: { email: TOO_LONG } });
  t.deepEqual(await storedUsers(username), []);

  const created = await app.request('/api/v4/users', { method: 'POST', token: ROOT_TOKEN, body: { ...fields, name: 'n'.repeat(255) } });
  t.is(created.status, 201, created.text);
  t.is(created.body.name, 'n'.repeat(255));
  const update = await app.request(`/api/v4/users/${created.body.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { name: 'm'.repeat(10_000) } });
  t.is(update.status, 400);
  t.deepEqual(update.body, { message: { name: TOO_LONG } });
  t.is((await app.db('directory_users').where({ id: created.body.id }).first()).name, 'n'.repeat(255));
});

test(`a Starboard severity or confidence outside the security report levels is a 400; nothing stored (${backendName})`, async (t) => {
  const f = await agentFixture(app, { agentName: 'levels' });
  const report = (levels: Record<string, string>) => ({
    vulnerability: { name: 'CVE-1', location: { image: 'alpine:3' }, identifiers: [{ type: 'cve', name: 'CVE-1' }], severity: 'High', confidence: 'Medium', ...levels },
    scanner: { id: 'starboard_trivy', name: 'Trivy' },
  });
  const put = async (body: unknown) =>
    app.request('/api/v4/internal/kubernetes/modules/starboard_vulnerability', { method: 'PUT', headers: await kasHeaders(app, f.agentToken), body });
  const severity = await put(report({ severity: 's'.repeat(300) }));
  t.is(severity.status, 400);
  t.deepEqual(severity.body, { error: 'vulnerability[severity] does not have a valid value' });
  const confidence = await put(report({ confidence: 'Sure' }));
  t.is(confidence.status, 400);
  t.deepEqual(confidence.body, { error: 'vulnerability[confidence] does not have a valid value' });
  t.deepEqual(await app.db('kubernetes_agent_vulnerabilities').where({ project_id: f.project.id }), []);
  const stored = await put(report({ severity: 'CRITICAL', confidence: 'confirmed' }));
  t.is(stored.status, 200, stored.text);
  t.like(await app.db('kubernetes_agent_vulnerabilities').where({ project_id: f.project.id }).first(), { severity: 'critical', confidence: 'confirmed' });
});

// ---------------------------------------------------------------- concurrent duplicates

/** Sends the same request CONCURRENT times at once. */
const all = (send: () => Promise<TestResponse>) => Promise.all(Array.from({ length: CONCURRENT }, send));

test(`concurrent creation of one project answers every loser as a sequential duplicate; one row (${backendName})`, async (t) => {
  const name = unique('race');
  const create = () => app.request('/api/v4/projects', { method: 'POST', token: ROOT_TOKEN, body: { name } });
  const answers = await all(create);
  t.is(answers.filter((answer) => answer.status === 201).length, 1, JSON.stringify(answers.map((answer) => answer.status)));
  const sequential = await create();
  t.is(sequential.status, 400);
  t.deepEqual(sequential.body, { message: { name: TAKEN, path: TAKEN } });
  for (const answer of answers.filter((a) => a.status !== 201)) {
    t.is(answer.status, 400, answer.text);
    t.deepEqual(answer.body, sequential.body);
  }
  t.is((await app.db('directory_projects').where({ name })).length, 1);
});

test(`concurrent creation of one group answers every loser as a sequential duplicate; one row (${backendName})`, async (t) => {
  const path = unique('racegroup');
  const create = () => app.request('/api/v4/groups', { method: 'POST', token: ROOT_TOKEN, body: { name: path, path } });
  const answers = await all(create);
  t.is(answers.filter((answer) => answer.status === 201).length, 1);
  const sequential = await create();
  t.is(sequential.status, 400);
  t.deepEqual(sequential.body, { message: { path: TAKEN } });
  for (const answer of answers.filter((a) => a.status !== 201)) t.deepEqual([answer.status, answer.body], [400, sequential.body]);
  t.is((await app.db('directory_namespaces').where({ path })).length, 1);
});

test(`concurrent additions of one project member: one 201, every other 409 Member already exists; one row (${backendName})`, async (t) => {
  const project = await app.request('/api/v4/projects', { method: 'POST', token: ROOT_TOKEN, body: { name: unique('members') } });
  const { user } = await createUserWithToken(app);
  const add = () => app.request(`/api/v4/projects/${project.body.id}/members`, { method: 'POST', token: ROOT_TOKEN, body: { user_id: user.id, access_level: 30 } });
  const answers = await all(add);
  t.is(answers.filter((answer) => answer.status === 201).length, 1);
  for (const answer of [...answers.filter((a) => a.status !== 201), await add()]) {
    t.is(answer.status, 409, answer.text);
    t.deepEqual(answer.body, { message: 'Member already exists' });
  }
  t.is((await app.db('directory_members').where({ source_type: 'project', source_id: project.body.id, user_id: user.id })).length, 1);
});

// ---------------------------------------------------------------- user input as a key

test(`sort names that plain objects answer (__proto__, toString, constructor) are unknown sorts: ignored, as GitLab ignores any unknown sort (${backendName})`, async (t) => {
  const { plaintext, user } = await createUserWithToken(app);
  await app.services.tokens.tokens.create(user, { name: 'zeta', scopes: ['api'] });
  await app.services.tokens.tokens.create(user, { name: 'alpha', scopes: ['api'] });
  const ids = async (query: string) => {
    const response = await app.request(`/api/v4/personal_access_tokens?${query}`, { token: plaintext });
    t.is(response.status, 200, `${query}: ${response.text}`);
    return response.body.map((token: { id: number }) => token.id);
  };
  const unordered = await ids('');
  t.is(unordered.length, 3);
  for (const sort of ['__proto__', 'toString', 'constructor', 'hasOwnProperty', 'valueOf']) t.deepEqual(await ids(`sort=${sort}`), unordered, sort);
  t.notDeepEqual(await ids('sort=name_asc'), unordered);
});

// ---------------------------------------------------------------- huge searches

test(`a token search of 2 500 terms is a bounded query: nothing matches it, and terms are matched all the same past 100 (${backendName})`, async (t) => {
  const { plaintext, user } = await createUserWithToken(app);
  const name = Array.from({ length: 250 }, () => ALPHANUMERIC[randomInt(ALPHANUMERIC.length)]).join('');
  const { token } = await app.services.tokens.tokens.create(user, { name, scopes: ['api'] });
  const search = async (terms: string) => {
    const response = await rawRequest('GET', `/api/v4/personal_access_tokens?search=${terms.replaceAll(' ', '+')}`, { 'PRIVATE-TOKEN': plaintext }, Buffer.alloc(0));
    t.is(response.status, 200, response.text.slice(0, 200));
    return response.body.map((found: { id: number }) => found.id);
  };
  t.deepEqual(await search(MANY_TERMS), []);
  // Every 3-character piece of the random name: about 248 distinct terms, each in the name.
  const pieces = Array.from({ length: name.length - 2 }, (_, i) => name.slice(i, i + 3));
  t.true(new Set(pieces).size > 150);
  t.deepEqual(await search(pieces.join(' ')), [token.id]);
  t.deepEqual(await search(`${pieces.join(' ')} absent`), []);
  // A term longer than any name matches nothing.
  t.deepEqual(await search('x'.repeat(5_000)), []);
});

// ---------------------------------------------------------------- integers past their columns

test(`subscription counts and minute packs past what an integer column holds are 400s; nothing stored (${backendName})`, async (t) => {
  const group = await app.request('/api/v4/groups', { method: 'POST', token: ROOT_TOKEN, body: { name: unique('counts'), path: unique('counts') } });
  const subscription = `/api/v4/namespaces/${group.body.id}/gitlab_subscription`;
  const tooLarge = ['must be less than or equal to 2147483647'];
  const created = await app.request(subscription, { method: 'POST', token: ROOT_TOKEN, body: { start_date: '2026-07-15', seats: INT32_OVERFLOW } });
  t.is(created.status, 400);
  t.deepEqual(created.body, { message: { seats: tooLarge } });
  t.deepEqual(await app.db('subscriptions_gitlab_subscriptions').where({ namespace_id: group.body.id }), []);

  t.is((await app.request(subscription, { method: 'POST', token: ROOT_TOKEN, body: { start_date: '2026-07-15', seats: 10 } })).status, 201);
  const updated = await app.request(subscription, { method: 'PUT', token: ROOT_TOKEN, body: { max_seats_used: INT32_OVERFLOW, seats: -2_147_483_649 } });
  t.is(updated.status, 400);
  t.deepEqual(updated.body, { message: { seats: ['must be greater than or equal to -2147483648'], max_seats_used: tooLarge } });
  t.like(await app.db('subscriptions_gitlab_subscriptions').where({ namespace_id: group.body.id }).first(), { seats: 10, max_seats_used: 0 });

  const purchaseXid = unique('xid');
  const packs = await app.request(`/api/v4/namespaces/${group.body.id}/minutes`, {
    method: 'POST',
    token: ROOT_TOKEN,
    body: { packs: [{ number_of_minutes: Number(INT32_OVERFLOW), expires_at: '2027-01-01', purchase_xid: purchaseXid }] },
  });
  t.is(packs.status, 400);
  t.deepEqual(packs.body, { message: '400 Bad request - Unable to save additional packs' });
  t.deepEqual(await app.db('subscriptions_ci_minutes_packs').where({ purchase_xid: purchaseXid }), []);
});
