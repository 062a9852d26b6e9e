import test from 'ava';
import { once } from 'node:events';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { trackConnections, type ConnectionDrainer } from '../../core/http/drain.js';
import { ROOT_TOKEN, backendName, startTestApp } from '../helpers/app.js';
import { keepAliveLoad, type LoadRequest } from '../helpers/keep-alive-load.js';

/** Never reached by a healthy drain; reaching it shows up as `clean: false`. */
const TIMEOUT_MS = 30_000;
const CLIENTS = 20;

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A server whose requests wait for the test to release them, to hold a request in progress. */
async function heldServer() {
  const held: Array<() => void> = [];
  const server = createServer((req, res) => {
    const answer = () => res.writeHead(200, { 'content-type': 'text/plain' }).end(`answered ${req.url}`);
    if (req.url === '/hold') held.push(answer);
    else answer();
  });
  const drainer = trackConnections(server);
  const url = await listen(server);
  return { server, drainer, url, held, release: () => held.splice(0).forEach((answer) => answer()) };
}

interface Reply {
  status: number;
  connection: string | undefined;
  body: string;
  socket: Socket;
  reused: boolean;
}

function get(url: string, path: string, agent: Agent): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { agent }, (res) => {
      // Taken now: a keep-alive agent detaches the socket from the response once the body ends.
      const socket = res.socket;
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, body, socket, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves once `predicate` holds, checking on every turn of the event loop. */
async function until(predicate: () => boolean) {
  while (!predicate()) await new Promise((done) => setImmediate(done));
}

test('a request in progress when the drain starts is answered with Connection: close, then its socket closes', async (t) => {
  const { drainer, url, held, release } = await heldServer();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());

  const reply = get(url, '/hold', agent);
  await until(() => held.length === 1);
  const drained = drainer.drain({ timeoutMs: TIMEOUT_MS });
  release();
  const answer = await reply;
  t.deepEqual([answer.status, answer.connection, answer.body], [200, 'close', 'answered /hold']);
  if (!answer.socket.closed) await once(answer.socket, 'close');
  t.deepEqual(await drained, { clean: true, cut: 0 });
});

test('a request arriving on an idle keep-alive socket after the drain began is answered, not reset; new connections are refused', async (t) => {
  const { drainer, url } = await heldServer();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());

  const first = await get(url, '/first', agent);
  t.deepEqual([first.status, first.connection], [200, 'keep-alive']);
  // Node's own `server.close()` destroys this idle socket on the spot; the next request would then be reset.
  const drained = drainer.drain({ timeoutMs: TIMEOUT_MS });
  const second = await get(url, '/second', agent);
  t.true(second.reused, 'sent on the socket of the first request');
  t.deepEqual([second.status, second.connection, second.body], [200, 'close', 'answered /second']);

  const fresh = new Agent({ keepAlive: true });
  t.teardown(() => fresh.destroy());
  const refused = await t.throwsAsync(get(url, '/third', fresh));
  t.is((refused as NodeJS.ErrnoException).code, 'ECONNREFUSED');
  t.deepEqual(await drained, { clean: true, cut: 0 });
});

test('a keep-alive socket that stays idle is closed after the grace, and the drain then ends', async (t) => {
  const { drainer, url } = await heldServer();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const idle = await get(url, '/once', agent);
  const closed = once(idle.socket, 'close');
  t.deepEqual(await drainer.drain({ timeoutMs: TIMEOUT_MS, idleGraceMs: 50 }), { clean: true, cut: 0 });
  await closed;
  t.true(idle.socket.destroyed);
});

test('at the timeout, sockets still busy are cut and the drain reports it', async (t) => {
  const { drainer, url, held } = await heldServer();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const reply = get(url, '/hold', agent);
  await until(() => held.length === 1);
  t.deepEqual(await drainer.drain({ timeoutMs: 50 }), { clean: false, cut: 1 });
  const error = await t.throwsAsync(reply);
  t.is((error as NodeJS.ErrnoException).code, 'ECONNRESET');
});

test(`${backendName}: ${CLIENTS} keep-alive clients through a drain: no request reset, every answered write committed, no failed write committed`, async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.close());
  const root = await app.request('/api/v4/user', { token: ROOT_TOKEN });
  // The gateway's own server stays up for the fixtures; the drained one serves the same app.
  const server = createServer(app.gateway.app.callback());
  const drainer: ConnectionDrainer = trackConnections(server);
  const url = await listen(server);

  const writers = 5;
  const next = (client: number, n: number): LoadRequest =>
    client < writers
      ? {
          method: 'POST',
          path: `/api/v4/users/${root.body.id}/personal_access_tokens`,
          headers: { 'private-token': ROOT_TOKEN },
          body: { name: `drain-${client}-${n}`, scopes: ['read_user'] },
        }
      : { method: 'GET', path: '/api/v4/user', headers: { 'private-token': ROOT_TOKEN } };
  const load = keepAliveLoad(url, CLIENTS, next);
  await load.warmedUp(3);
  const drained = await drainer.drain({ timeoutMs: TIMEOUT_MS });
  const result = await load.finished;

  t.deepEqual(drained, { clean: true, cut: 0 });
  t.deepEqual(result.failures, [], 'no request failed once sent');
  t.deepEqual(
    result.answers.filter(({ answer, request }) => answer.status !== (request.method === 'POST' ? 201 : 200)).map(({ answer }) => answer),
    [],
  );
  t.is(new Set(result.refused.map(({ client }) => client)).size, CLIENTS, 'every client ended on a refused connection');
  t.true(result.answers.some(({ answer }) => answer.connection === 'close'), 'answers during the drain said Connection: close');

  const names = (requests: LoadRequest[]) => requests.filter((r) => r.method === 'POST').map((r) => (r.body as { name: string }).name);
  const answeredWrites = names(result.answers.map(({ request }) => request));
  const unansweredWrites = names([...result.refused, ...result.failures].map(({ request }) => request));
  const stored = (await app.db('tokens_personal_access_tokens').where('name', 'like', 'drain-%').pluck('name')) as string[];
  t.true(answeredWrites.length >= writers * 3);
  t.deepEqual(stored.sort(), answeredWrites.sort(), 'exactly the answered writes are stored');
  t.deepEqual(
    unansweredWrites.filter((name) => stored.includes(name)),
    [],
    'no write whose client saw an error committed',
  );
});
