import test from 'ava';
import { BatchedDestination } from '../../core/ops/observability.js';

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
