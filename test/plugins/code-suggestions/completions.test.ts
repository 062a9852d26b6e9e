import test from 'ava';
import { jwtVerify, createRemoteJWKSet } from 'jose';
import { EXTERNAL_URL, ROOT_TOKEN, startTestApp } from '../../helpers/app.js';
import { COMPLETION, answers, gate } from '../../helpers/fake-ai-gateway.js';
import {
  AI_SCOPES,
  BAD_GATEWAY,
  COMPLETIONS,
  GATEWAY_TIMEOUT,
  NOT_FOUND,
  NOW_S,
  ORIGIN_HEADER,
  TOO_LARGE,
  UNAUTHORIZED,
  completionBody,
  decodeJwt,
  disableForUser,
  insufficientScope,
  post,
  startCsApp,
  userWithToken,
  type CsApp,
} from './_support.js';

const LS_HEADERS = {
  'User-Agent': 'gitlab-language-server:8.54.0 (vscode:1.96.0)',
  'X-Gitlab-Language-Server-Version': '8.54.0',
  Accept: '*/*',
};

let cs: CsApp;
test.before(async () => {
  cs = await startCsApp();
});
test.after.always(async () => {
  await cs?.close();
});

// --- the gate -----------------------------------------------------------------------------------------

test('completions: 401 without credentials, nothing sent upstream', async (t) => {
  const response = await post(cs.app, COMPLETIONS, { body: completionBody() });
  t.is(response.status, 401);
  t.deepEqual(response.body, UNAUTHORIZED);
  t.is(response.headers.get(ORIGIN_HEADER), 'monolith');
  t.deepEqual(cs.fake.received(response.requestId), []);
});

test('completions: read_api → 403 insufficient_scope; ai_features alone is enough', async (t) => {
  const readApi = await userWithToken(cs.app, ['read_api']);
  const refused = await post(cs.app, COMPLETIONS, { token: readApi.plaintext, body: completionBody() });
  t.is(refused.status, 403);
  t.deepEqual(refused.body, insufficientScope(AI_SCOPES));
  t.is(refused.headers.get(ORIGIN_HEADER), 'monolith');
  const aiFeatures = await userWithToken(cs.app, ['ai_features']);
  const accepted = await post(cs.app, COMPLETIONS, { token: aiFeatures.plaintext, body: completionBody() });
  t.is(accepted.status, 200);
});

test('completions: Code Suggestions off for the user → 401 with the origin header, nothing sent upstream', async (t) => {
  const { user, plaintext } = await userWithToken(cs.app);
  await disableForUser(cs.app, user.id, ROOT_TOKEN);
  const row = await cs.app.db('directory_namespaces').where({ kind: 'user', owner_id: user.id }).first();
  t.false(Boolean(row.code_suggestions));
  const response = await post(cs.app, COMPLETIONS, { token: plaintext, body: completionBody() });
  t.is(response.status, 401);
  t.deepEqual(response.body, UNAUTHORIZED);
  t.is(response.headers.get(ORIGIN_HEADER), 'monolith');
  t.deepEqual(cs.fake.received(response.requestId), []);
});

test('completions: a group the user belongs to with Code Suggestions on lets them in when their own namespace is off', async (t) => {
  const { user, plaintext } = await userWithToken(cs.app);
  await disableForUser(cs.app, user.id, ROOT_TOKEN);
  t.is((await post(cs.app, COMPLETIONS, { token: plaintext, body: completionBody() })).status, 401);
  const group = await cs.app.request('/api/v4/groups', { method: 'POST', token: ROOT_TOKEN, body: { name: `G${user.id}`, path: `cs-group-${user.id}` } });
  t.is(group.status, 201);
  const member = await cs.app.request(`/api/v4/groups/${group.body.id}/members`, { method: 'POST', token: ROOT_TOKEN, body: { user_id: user.id, access_level: 30 } });
  t.is(member.status, 201);
  const allowed = await post(cs.app, COMPLETIONS, { token: plaintext, body: completionBody() });
  t.is(allowed.status, 200);
  t.is(cs.fake.received(allowed.requestId)[0].headers['x-gitlab-feature-enabled-by-namespace-ids'], String(group.body.id));
  // The group switched off: no way in left.
  t.is((await cs.app.request(`/api/v4/groups/${group.body.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { code_suggestions: false } })).status, 200);
  t.is((await post(cs.app, COMPLETIONS, { token: plaintext, body: completionBody() })).status, 401);
});

test('completions: flag ai_duo_code_suggestions_switch off → 404 with the origin header', async (t) => {
  const app = await startTestApp({ flags: { ai_duo_code_suggestions_switch: false } });
  try {
    const { plaintext } = await userWithToken(app);
    const response = await post(app, COMPLETIONS, { token: plaintext, body: completionBody() });
    t.is(response.status, 404);
    t.deepEqual(response.body, NOT_FOUND);
    t.is(response.headers.get(ORIGIN_HEADER), 'monolith');
  } finally {
    await app.close();
  }
});

test('completions: validation errors in Grape\'s words and order, with the origin header', async (t) => {
  const { plaintext } = await userWithToken(cs.app);
  const cases: Array<[unknown, string]> = [
    [{}, 'current_file is missing, current_file[file_name] is missing, current_file[content_above_cursor] is missing'],
    [{ current_file: 'x' }, 'current_file is invalid'],
    [{ current_file: { file_name: 'a.py' } }, 'current_file[content_above_cursor] is missing'],
    [{ current_file: { file_name: 'a'.repeat(256), content_above_cursor: '' } }, 'current_file[file_name] must be less than 255 characters'],
    [
      { current_file: { file_name: 'a.py', content_above_cursor: '' }, intent: 'chat', stream: 'maybe', generation_type: 'poem' },
      'intent does not have a valid value, stream is invalid, generation_type does not have a valid value',
    ],
    [{ current_file: { file_name: 'a.py', content_above_cursor: '' }, context: [] }, 'context is empty'],
    [{ current_file: { file_name: 'a.py', content_above_cursor: '' }, context: [{ type: 'url', name: 'x', content: 'y' }] }, 'context[0][type] does not have a valid value'],
    [
      { current_file: { file_name: 'a.py', content_above_cursor: '' }, context: [{ type: 'file', name: 'x', content: 'y' }, { type: 'snippet', name: ' ' }] },
      'context[1][name] is empty, context[1][content] is missing, context[1][content] is empty',
    ],
  ];
  for (const [body, error] of cases) {
    const response = await post(cs.app, COMPLETIONS, { token: plaintext, body });
    t.is(response.status, 400, JSON.stringify(body));
    t.deepEqual(response.body, { error });
    t.is(response.headers.get(ORIGIN_HEADER), 'monolith');
    t.deepEqual(cs.fake.received(response.requestId), []);
  }
});

test('completions: a forwarded body over 600 000 bytes → 413 with the origin header, nothing sent', async (t) => {
  const { plaintext } = await userWithToken(cs.app);
  const big = 'x'.repeat(300_000);
  const response = await post(cs.app, COMPLETIONS, {
    token: plaintext,
    body: completionBody({ context: [{ type: 'file', name: 'a.py', content: big }, { type: 'file', name: 'b.py', content: big }] }),
  });
  t.is(response.status, 413);
  t.deepEqual(response.body, TOO_LARGE);
  t.is(response.headers.get(ORIGIN_HEADER), 'monolith');
  t.deepEqual(cs.fake.received(response.requestId), []);
  // Over the server's body limit (2 MiB) the body is not even read: the same 413, the same header.
  const huge = await post(cs.app, COMPLETIONS, { token: plaintext, body: completionBody({ user_instruction: 'x'.repeat(2_200_000) }) });
  t.is(huge.status, 413);
  t.deepEqual(huge.body, TOO_LARGE);
  t.is(huge.headers.get(ORIGIN_HEADER), 'monolith');
  // Just under the limit goes through.
  const fits = await post(cs.app, COMPLETIONS, { token: plaintext, body: completionBody({ context: [{ type: 'file', name: 'a.py', content: big }] }) });
  t.is(fits.status, 200);
});

// --- what goes upstream ----------------------------------------------------------------------------------

test('completions: the client body goes to /v2/code/completions with prompt_version, minus credentials', async (t) => {
  const { plaintext } = await userWithToken(cs.app);
  const body: Record<string, unknown> = completionBody({ private_token: plaintext, model_name: 'codestral', stream: 'false' });
  const response = await post(cs.app, COMPLETIONS, { token: plaintext, body, headers: LS_HEADERS });
  t.is(response.status, 200);
  t.deepEqual(response.body, COMPLETION);
  const [received] = cs.fake.received(response.requestId);
  t.is(received.method, 'POST');
  t.is(received.path, '/v2/code/completions');
  const { private_token: _, ...expected } = body;
  t.deepEqual(received.body, { ...expected, stream: false, prompt_version: 1 });
  t.false(received.text.includes(plaintext), 'the caller\'s token never leaves');
});

test('completions: headers upstream are the allowlist plus GitLab\'s identity headers and a gatehouse JWT; never the caller\'s credentials', async (t) => {
  const { user, plaintext } = await userWithToken(cs.app);
  const response = await post(cs.app, COMPLETIONS, {
    token: plaintext,
    body: completionBody(),
    headers: {
      ...LS_HEADERS,
      'PRIVATE-TOKEN': plaintext,
      Cookie: '_gitlab_session=secret',
      'X-Gitlab-Realm': 'saas',
      'X-Gitlab-Global-User-Id': 'spoofed',
      'X-Gitlab-Cs-Client-Name': 'vscode',
      'X-Forwarded-For': '203.0.113.9',
      'X-Custom': 'dropped',
    },
  });
  t.is(response.status, 200);
  const [received] = cs.fake.received(response.requestId);
  const headers = { ...received.headers };
  const authorization = headers.authorization as string;
  delete headers.authorization;
  const service = cs.app.services['code-suggestions'].service;
  const namespace = await cs.app.db('directory_namespaces').where({ kind: 'user', owner_id: user.id }).first();
  t.deepEqual(headers, {
    host: new URL(cs.fake.url).host,
    connection: 'keep-alive',
    'content-length': String(Buffer.byteLength(received.text)),
    'x-gitlab-global-user-id': service.globalUserId(user.id),
    'x-gitlab-user-id': String(user.id),
    'x-gitlab-instance-id': service.instanceId,
    'x-gitlab-host-name': 'gatehouse.test',
    'x-gitlab-realm': 'self-managed',
    'x-gitlab-deployment-type': 'self-managed',
    'x-gitlab-version': '17.11.0',
    'x-gitlab-authentication-type': 'oidc',
    'x-gitlab-subject-type': 'human',
    'x-gitlab-feature-enablement-type': 'duo_pro',
    'x-gitlab-enabled-feature-flags': 'code_suggestions_context',
    'x-gitlab-enabled-instance-verbose-ai-logs': 'false',
    'x-gitlab-model-prompt-cache-enabled': 'true',
    'x-gitlab-is-team-member': 'false',
    'content-type': 'application/json',
    'x-request-id': response.requestId,
    'x-gitlab-unit-primitive': 'complete_code',
    'x-gitlab-feature-enabled-by-namespace-ids': String(namespace.id),
    'user-agent': LS_HEADERS['User-Agent'],
    'x-gitlab-language-server-version': '8.54.0',
    accept: '*/*',
    'x-gitlab-cs-client-name': 'vscode',
  });
  t.false(authorization.includes(plaintext));
  const jwt = /^Bearer (.+)$/.exec(authorization)![1];
  const { payload } = await jwtVerify(jwt, createRemoteJWKSet(new URL(`${cs.app.url}/oauth/discovery/keys`)), {
    issuer: EXTERNAL_URL,
    audience: 'gitlab-ai-gateway',
    currentDate: new Date(NOW_S * 1000),
  });
  t.is(payload.sub, service.globalUserId(user.id));
});

test('completions: intent generation goes to /v2/code/generations as generate_code', async (t) => {
  const { plaintext } = await userWithToken(cs.app);
  const response = await post(cs.app, COMPLETIONS, { token: plaintext, body: completionBody({ intent: 'generation', generation_type: 'comment' }) });
  t.is(response.status, 200);
  const [received] = cs.fake.received(response.requestId);
  t.is(received.path, '/v2/code/generations');
  t.is(received.headers['x-gitlab-unit-primitive'], 'generate_code');
  t.like(received.body, { intent: 'generation', generation_type: 'comment', prompt_version: 1 });
});

test('completions: context and user_instruction pass only while code_suggestions_context is on', async (t) => {
  const context = [{ type: 'snippet', name: 'helper', content: 'def helper(): pass' }];
  const body = completionBody({ context, user_instruction: 'write tests' });
  const { plaintext } = await userWithToken(cs.app);
  const on = await post(cs.app, COMPLETIONS, { token: plaintext, body });
  t.deepEqual(cs.fake.received(on.requestId)[0].body.context, context);
  t.is(cs.fake.received(on.requestId)[0].body.user_instruction, 'write tests');

  const off = await startCsApp({ flags: { code_suggestions_context: false } });
  try {
    const user = await userWithToken(off.app);
    const response = await post(off.app, COMPLETIONS, { token: user.plaintext, body });
    t.is(response.status, 200);
    const [received] = off.fake.received(response.requestId);
    t.false('context' in received.body);
    t.false('user_instruction' in received.body);
    t.is(received.headers['x-gitlab-enabled-feature-flags'], '');
  } finally {
    await off.close();
  }
});

test('completions: the file is trimmed around the cursor to 100 000 characters each side', async (t) => {
  const { plaintext } = await userWithToken(cs.app);
  const above = `${'a'.repeat(50_000)}${'b'.repeat(100_000)}`;
  const below = `${'c'.repeat(100_000)}${'d'.repeat(50_000)}`;
  const response = await post(cs.app, COMPLETIONS, {
    token: plaintext,
    body: completionBody({ current_file: { file_name: 'big.py', content_above_cursor: above, content_below_cursor: below } }),
  });
  t.is(response.status, 200);
  const file = cs.fake.received(response.requestId)[0].body.current_file;
  t.is(file.content_above_cursor, 'b'.repeat(100_000));
  t.is(file.content_below_cursor, 'c'.repeat(100_000));
  t.is(file.file_name, 'big.py');
});

// --- the upstream JWT cache -------------------------------------------------------------------------------

test('completions: the upstream JWT is reused per user and renewed before it expires — an expired one is never sent', async (t) => {
  const app = await startCsApp();
  try {
    const { plaintext } = await userWithToken(app.app);
    const other = await userWithToken(app.app);
    const tokenOf = async (token: string) => {
      const response = await post(app.app, COMPLETIONS, { token, body: completionBody() });
      t.is(response.status, 200);
      return /^Bearer (.+)$/.exec(app.fake.received(response.requestId)[0].headers.authorization as string)![1];
    };
    const first = await tokenOf(plaintext);
    t.is(await tokenOf(plaintext), first, 'the same token while it is fresh');
    t.not(await tokenOf(other.plaintext), first, 'another user gets their own');

    const seen = new Set([first]);
    // Walk time forward across several lifetimes: every token sent is valid at the moment it is sent.
    for (let step = 0; step < 30; step++) {
      app.app.clock.advance(7 * 60_000);
      const token = await tokenOf(plaintext);
      const { exp, nbf } = decodeJwt(token).payload;
      const nowS = app.app.clock.now().getTime() / 1000;
      t.true(exp > nowS, `token sent at step ${step} has not expired`);
      t.true(exp - nowS >= 300 || !seen.has(token), 'a reused token has at least the renewal margin left');
      t.true(nbf <= nowS);
      seen.add(token);
    }
    t.true(seen.size >= 4, 'renewed several times over 3.5 hours');
  } finally {
    await app.close();
  }
});

// --- answers relayed ----------------------------------------------------------------------------------------

test('completions: an upstream 4xx is relayed with its status and body, without the origin header', async (t) => {
  const { plaintext } = await userWithToken(cs.app);
  const requestId = crypto.randomUUID();
  cs.fake.on(requestId, answers.status(422, { detail: [{ msg: 'field required' }] }));
  const response = await post(cs.app, COMPLETIONS, { token: plaintext, body: completionBody(), requestId });
  t.is(response.status, 422);
  t.deepEqual(response.body, { detail: [{ msg: 'field required' }] });
  t.is(response.headers.get(ORIGIN_HEADER), null);
});

test('completions: an upstream 5xx → 502 with the origin header', async (t) => {
  const { plaintext } = await userWithToken(cs.app);
  for (const status of [500, 503]) {
    const requestId = crypto.randomUUID();
    cs.fake.on(requestId, answers.status(status, { detail: 'boom' }));
    const response = await post(cs.app, COMPLETIONS, { token: plaintext, body: completionBody(), requestId });
    t.is(response.status, 502);
    t.deepEqual(response.body, BAD_GATEWAY);
    t.is(response.headers.get(ORIGIN_HEADER), 'monolith');
  }
});

test('completions: an unreachable AI gateway → 502', async (t) => {
  const app = await startTestApp({ config: { plugins: { 'code-suggestions': { aiGatewayUrl: 'http://127.0.0.1:9' } } } });
  try {
    const { plaintext } = await userWithToken(app);
    const response = await post(app, COMPLETIONS, { token: plaintext, body: completionBody() });
    t.is(response.status, 502);
    t.deepEqual(response.body, BAD_GATEWAY);
    t.is(response.headers.get(ORIGIN_HEADER), 'monolith');
  } finally {
    await app.close();
  }
});

test('completions: no answer within upstreamTimeoutMs → 504; a slow answer within it is relayed', async (t) => {
  const app = await startCsApp({ pluginConfig: { upstreamTimeoutMs: 300 } });
  try {
    const { plaintext } = await userWithToken(app.app);
    const never = crypto.randomUUID();
    app.fake.on(never, answers.never());
    const timedOut = await post(app.app, COMPLETIONS, { token: plaintext, body: completionBody(), requestId: never });
    t.is(timedOut.status, 504);
    t.deepEqual(timedOut.body, GATEWAY_TIMEOUT);
    t.is(timedOut.headers.get(ORIGIN_HEADER), 'monolith');
    t.true(await app.fake.received(never)[0].aborted, 'the upstream request was given up');
    const slow = crypto.randomUUID();
    app.fake.on(slow, answers.slow(50));
    const relayed = await post(app.app, COMPLETIONS, { token: plaintext, body: completionBody(), requestId: slow });
    t.is(relayed.status, 200);
    t.deepEqual(relayed.body, COMPLETION);
  } finally {
    await app.close();
  }
});

// --- streaming ------------------------------------------------------------------------------------------------

/** POSTs a streaming completion and hands back the response with a reader over its body. */
async function openStream(url: string, token: string, requestId: string, signal?: AbortSignal) {
  const response = await fetch(`${url}${COMPLETIONS}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'X-Request-Id': requestId, 'X-Supports-Sse-Streaming': 'true' },
    body: JSON.stringify(completionBody({ intent: 'generation', stream: true, generation_type: 'small_file' })),
    signal,
  });
  return { response, reader: response.body!.getReader() };
}

const decoder = new TextDecoder();

test('streaming SSE: the first event reaches the client before the upstream has finished', async (t) => {
  const { plaintext } = await userWithToken(cs.app);
  const requestId = crypto.randomUUID();
  const release = gate();
  cs.fake.on(requestId, answers.sse(['"def"', '"def add"', '"def add(a, b):"'], release.wait));
  const { response, reader } = await openStream(cs.app.url, plaintext, requestId);
  t.is(response.status, 200);
  t.is(response.headers.get('content-type'), 'text/event-stream');
  t.is(response.headers.get('x-streaming-format'), 'sse');
  // The upstream holds back every event after the first until released: this read only completes
  // because gatehouse passes the first chunk on without waiting for the rest.
  const first = await reader.read();
  t.is(decoder.decode(first.value), 'event: stream_chunk\ndata: "def"\n\n');
  release.open();
  let rest = '';
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += decoder.decode(chunk.value);
  t.is(rest, 'event: stream_chunk\ndata: "def add"\n\nevent: stream_end\ndata: "def add(a, b):"\n\n');
  const [received] = cs.fake.received(requestId);
  t.is(received.headers['x-supports-sse-streaming'], 'true');
  t.is(received.body.stream, true);
  t.false(await received.aborted);
});

test('streaming chunked text: relayed chunk by chunk with the upstream content type', async (t) => {
  const { plaintext } = await userWithToken(cs.app);
  const requestId = crypto.randomUUID();
  const release = gate();
  cs.fake.on(requestId, answers.chunked(['def add', '(a, b):\n', '    return a + b\n'], release.wait));
  const { response, reader } = await openStream(cs.app.url, plaintext, requestId);
  t.is(response.status, 200);
  t.is(response.headers.get('content-type'), 'text/plain; charset=utf-8');
  t.is(response.headers.get('x-streaming-format'), null);
  t.is(decoder.decode((await reader.read()).value), 'def add');
  release.open();
  let rest = '';
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += decoder.decode(chunk.value);
  t.is(rest, '(a, b):\n    return a + b\n');
});

test('streaming: a client that disconnects mid-stream aborts the upstream request', async (t) => {
  const { plaintext } = await userWithToken(cs.app);
  const requestId = crypto.randomUUID();
  const never = gate();
  cs.fake.on(requestId, answers.sse(['"one"', '"two"'], never.wait));
  const controller = new AbortController();
  const { reader } = await openStream(cs.app.url, plaintext, requestId, controller.signal);
  t.is(decoder.decode((await reader.read()).value), 'event: stream_chunk\ndata: "one"\n\n');
  controller.abort();
  t.true(await cs.fake.received(requestId)[0].aborted, 'the AI gateway saw the request go away');
});

test('streaming: a client that disconnects before the upstream answers aborts the upstream request', async (t) => {
  const { plaintext } = await userWithToken(cs.app);
  const requestId = crypto.randomUUID();
  cs.fake.on(requestId, answers.never());
  const controller = new AbortController();
  const pending = openStream(cs.app.url, plaintext, requestId, controller.signal).catch((error: Error) => error);
  while (cs.fake.received(requestId).length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  controller.abort();
  t.true((await pending) instanceof Error);
  t.true(await cs.fake.received(requestId)[0].aborted);
});

test('completions: a plain answer of unknown length (chunked) is relayed whole', async (t) => {
  const { plaintext } = await userWithToken(cs.app);
  const requestId = crypto.randomUUID();
  const text = JSON.stringify(COMPLETION);
  cs.fake.on(requestId, (_request, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.write(text.slice(0, 10));
    res.end(text.slice(10));
  });
  const response = await post(cs.app, COMPLETIONS, { token: plaintext, body: completionBody(), requestId });
  t.is(response.status, 200);
  t.deepEqual(response.body, COMPLETION);
});

test('streaming: an AI gateway that fails mid-stream cuts the client\'s response; the next request is served', async (t) => {
  const { plaintext } = await userWithToken(cs.app);
  const requestId = crypto.randomUUID();
  cs.fake.on(requestId, (_request, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'X-Streaming-Format': 'sse' });
    res.write('event: stream_chunk\ndata: "def"\n\n', () => setTimeout(() => res.socket?.destroy(), 20));
  });
  const { response, reader } = await openStream(cs.app.url, plaintext, requestId);
  t.is(response.status, 200);
  t.is(decoder.decode((await reader.read()).value), 'event: stream_chunk\ndata: "def"\n\n');
  await t.throwsAsync(async () => {
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read());
  });
  const next = await post(cs.app, COMPLETIONS, { token: plaintext, body: completionBody() });
  t.is(next.status, 200);
  t.deepEqual(next.body, COMPLETION);
});
