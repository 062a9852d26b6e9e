import test from 'ava';
import { createServer, request as httpRequest, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGatewayServer, GatehouseResponse, oweStandardHeaders, writeListedHead } from '../../core/http/response.js';

// The standard headers every answer carries (X-Request-Id, X-Content-Type-Options, X-Frame-Options),
// on a gateway server (added with the head) and on a plain node:http server (set at once), whatever
// way the answer writes its head.

type Answer = (res: ServerResponse) => void;

async function serve(t: import('ava').ExecutionContext, make: (listener: RequestListener) => Server, answer: Answer): Promise<string> {
  const server = make((_req, res) => {
    oweStandardHeaders(res, 'req-42');
    answer(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

/** The answer's header lines as sent (name as written, value), in order, and its status and body. */
function fetchRaw(url: string): Promise<{ status: number; message: string; lines: Array<[string, string]>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        const lines: Array<[string, string]> = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) lines.push([res.rawHeaders[i], res.rawHeaders[i + 1]]);
        resolve({ status: res.statusCode!, message: res.statusMessage!, lines, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The lines of the answer's own and standard headers (not Date, Connection, Keep-Alive), names lower-cased. */
const headerLines = (lines: Array<[string, string]>) =>
  lines.map(([name, value]) => [name.toLowerCase(), value]).filter(([name]) => !['date', 'connection', 'keep-alive'].includes(name));

const STANDARD = [
  ['x-request-id', 'req-42'],
  ['x-content-type-options', 'nosniff'],
  ['x-frame-options', 'SAMEORIGIN'],
];

const servers: Array<[string, (listener: RequestListener) => Server]> = [
  ['gateway server', (listener) => createGatewayServer(listener)],
  ['plain node:http server', (listener) => createServer(listener)],
];

for (const [kind, make] of servers) {
  test(`${kind}: an answer written with end() carries each standard header once`, async (t) => {
    const url = await serve(t, make, (res) => {
      res.setHeader('Content-Type', 'text/plain');
      res.end('hello');
    });
    const answer = await fetchRaw(url);
    t.is(answer.status, 200);
    t.is(answer.body, 'hello');
    t.deepEqual(
      headerLines(answer.lines).sort(),
      [...STANDARD, ['content-type', 'text/plain'], ['content-length', '5']].sort(),
    );
  });

  test(`${kind}: an answer's own X-Frame-Options stands, set before or passed to writeHead in any form`, async (t) => {
    const forms: Answer[] = [
      (res) => {
        res.setHeader('X-Frame-Options', 'DENY');
        res.end();
      },
      (res) => res.writeHead(200, { 'x-frame-options': 'DENY' }).end(),
      (res) => res.writeHead(200, ['X-Frame-Options', 'DENY']).end(),
      (res) => res.writeHead(200, 'Fine', { 'X-Frame-Options': 'DENY' }).end(),
    ];
    for (const [index, form] of forms.entries()) {
      const answer = await fetchRaw(await serve(t, make, form));
      t.is(answer.status, 200);
      t.is(answer.message, index === 3 ? 'Fine' : 'OK');
      t.deepEqual(
        headerLines(answer.lines).filter(([name]) => name.startsWith('x-')).sort(),
        [['x-frame-options', 'DENY'], STANDARD[0], STANDARD[1]].sort(),
        `form ${index}`,
      );
    }
  });

  test(`${kind}: a head written from a flat list carries each standard header once and every repeated line`, async (t) => {
    const url = await serve(t, make, (res) => {
      writeListedHead(res, 201, ['content-type', 'application/json', 'set-cookie', 'a=1', 'set-cookie', 'b=2']);
      res.end('{}');
    });
    const answer = await fetchRaw(url);
    t.is(answer.status, 201);
    t.is(answer.body, '{}');
    t.deepEqual(
      headerLines(answer.lines).filter(([name]) => name !== 'transfer-encoding').sort(),
      [...STANDARD, ['content-type', 'application/json'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2']].sort(),
    );
  });

  test(`${kind}: a flat list naming a standard header keeps its own value, once; headers set earlier stay unless it names them`, async (t) => {
    const url = await serve(t, make, (res) => {
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('X-Report-Id', 'earlier');
      writeListedHead(res, 200, ['x-frame-options', 'DENY', 'x-content-type-options', 'nosniff', 'x-report-id', '42']);
      res.end();
    });
    const answer = await fetchRaw(url);
    t.deepEqual(
      headerLines(answer.lines).filter(([name]) => name !== 'transfer-encoding').sort(),
      [['x-frame-options', 'DENY'], STANDARD[0], STANDARD[1], ['cache-control', 'no-store'], ['x-report-id', '42']].sort(),
    );
  });
}

test('a gateway server answers with GatehouseResponses, which owe the standard headers until the head is written', async (t) => {
  let seen: ServerResponse | undefined;
  let owedBefore: string | undefined;
  let setBefore: boolean | undefined;
  const url = await serve(t, (listener) => createGatewayServer(listener), (res) => {
    seen = res;
    owedBefore = (res as GatehouseResponse).owedRequestId;
    setBefore = res.hasHeader('X-Request-Id');
    res.end();
  });
  const answer = await fetchRaw(url);
  t.is(answer.status, 200);
  t.true(seen instanceof GatehouseResponse);
  t.is(owedBefore, 'req-42');
  t.false(setBefore);
  t.is((seen as GatehouseResponse).owedRequestId, undefined);
});
