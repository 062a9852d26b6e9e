import test from 'ava';
import pino from 'pino';
import { BatchedDestination, requestLine, requestLineHead } from '../../core/ops/observability.js';

/** A writer that records each hand-over (a hand-over wakes the log thread once). */
function recorder() {
  const writes: string[] = [];
  return { writes, target: { write: (chunk: string) => void writes.push(chunk) } };
}

const wait = (ms: number) => new Promise((done) => setTimeout(done, ms));

test('lines are held, then handed over together, in order, within the batch interval', async (t) => {
  const { writes, target } = recorder();
  const destination = new BatchedDestination(target);
  destination.write('{"n":1}\n');
  destination.write('{"n":2}\n');
  destination.write('{"n":3}\n');
  t.deepEqual(writes, [], 'nothing is handed over per line');
  await wait(60);
  t.deepEqual(writes, ['{"n":1}\n{"n":2}\n{"n":3}\n']);
  destination.write('{"n":4}\n');
  await wait(60);
  t.deepEqual(writes, ['{"n":1}\n{"n":2}\n{"n":3}\n', '{"n":4}\n'], 'a later line starts a new batch');
});

test('a batch past 64 KiB is handed over at once', (t) => {
  const { writes, target } = recorder();
  const destination = new BatchedDestination(target);
  const line = `${'x'.repeat(1023)}\n`;
  for (let i = 0; i < 63; i++) destination.write(line);
  t.is(writes.length, 0);
  destination.write(line);
  t.is(writes.length, 1);
  t.is(writes[0], line.repeat(64));
});

test('flush hands over what is held at once, and nothing when nothing is held', (t) => {
  const { writes, target } = recorder();
  const destination = new BatchedDestination(target);
  destination.flush();
  t.deepEqual(writes, []);
  destination.write('{"msg":"draining"}\n');
  destination.flush();
  t.deepEqual(writes, ['{"msg":"draining"}\n']);
  destination.flush();
  t.is(writes.length, 1, 'no empty hand-over');
});

test('a request line built by hand is the line pino writes for the same fields, byte for byte', (t) => {
  const cases = [
    { method: 'GET', route: 'tokens.self', fields: { requestId: '0b7c1e52-6d1f-4c4e-9a53-2f6f3e0e8a11', url: '/api/v4/personal_access_tokens/self', status: 200, ms: 1.23, userId: 7, ip: '127.0.0.1' } },
    // No user (an anonymous or refused request): pino leaves the key out.
    { method: 'POST', route: 'unmatched', fields: { requestId: 'client-id:1@x+/=.', url: '/a?"q"=\\\u0001é\u2028', status: 404, ms: 0, userId: undefined, ip: '' } },
    { method: 'DELETE', route: 'proxy.svc "x"', fields: { requestId: 'r', url: '/svc/items/42', status: 502, ms: 30000.01, userId: 1, ip: '::ffff:10.0.0.1' } },
  ];
  for (const { method, route, fields } of cases) {
    const written: string[] = [];
    const logger = pino({ level: 'info', base: { service: 'gatehouse' }, timestamp: () => ',"time":1733000000000' }, { write: (line: string) => void written.push(line) });
    logger.child({ method, route }).info(fields, 'request');
    t.is(requestLine(requestLineHead(method, route), fields, 1733000000000), written[0]);
  }
});
