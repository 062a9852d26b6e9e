import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import pino from 'pino';
import { createInvalidationBus } from '../../core/ops/bus.js';
import { TEST_REDIS_URL } from '../helpers/app.js';

const silent = pino({ level: 'silent' });

/** Waits for something other processes or connections make happen (bounded, so a failure cannot hang). */
async function eventually(condition: () => boolean, what: string, poke?: () => void) {
  for (let i = 0; i < 250 && !condition(); i++) {
    poke?.();
    await new Promise((done) => setTimeout(done, 20));
  }
  if (!condition()) throw new Error(`never happened: ${what}`);
}

test('without Redis, messages reach this instance\'s subscribers at once', (t) => {
  const bus = createInvalidationBus({ keyPrefix: 'unused:', logger: silent });
  const received: string[] = [];
  bus.subscribe('tokens', (message) => received.push(`a:${message}`));
  bus.subscribe('tokens', (message) => received.push(`b:${message}`));
  bus.subscribe('users', (message) => received.push(`users:${message}`));
  bus.publish('tokens', '42');
  t.deepEqual(received, ['a:42', 'b:42'], 'delivered synchronously, to this channel only');
  t.false(bus.distributed);
});

test('a failing handler is logged and does not stop the others', (t) => {
  const lines: string[] = [];
  const logger = pino(
    { level: 'error' },
    new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    }),
  );
  const bus = createInvalidationBus({ keyPrefix: 'unused:', logger });
  const received: string[] = [];
  bus.subscribe('tokens', () => {
    throw new Error('handler bug');
  });
  bus.subscribe('tokens', (message) => received.push(message));
  t.notThrows(() => bus.publish('tokens', '7'));
  t.deepEqual(received, ['7']);
  t.regex(lines.join(''), /invalidation handler failed/);
});

if (TEST_REDIS_URL) {
  test('with Redis, other instances receive messages, including subscriptions made before Redis connected', async (t) => {
    const keyPrefix = `gh-test-bus-${randomBytes(6).toString('hex')}:`;
    // As the gateway connects: no offline queue on the main connection.
    const connect = () => new Redis(TEST_REDIS_URL!, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    const redisA = connect();
    const redisB = connect();
    const busA = createInvalidationBus({ redis: redisA, keyPrefix, logger: silent });
    const busB = createInvalidationBus({ redis: redisB, keyPrefix, logger: silent });
    try {
      t.true(busA.distributed);
      const onA: string[] = [];
      const onB: string[] = [];
      // Subscribed at once, as plugin services do while the gateway boots.
      busA.subscribe('tokens', (message) => onA.push(message));
      busB.subscribe('tokens', (message) => onB.push(message));

      await eventually(() => redisA.status === 'ready', 'instance A connects');
      // Keep publishing until B's subscription is live; B must get them, A only its own in-process copies.
      let sent = 0;
      await eventually(() => onB.length > 0, 'instance B receives', () => busA.publish('tokens', `a${++sent}`));
      t.true(onB.every((message) => /^a\d+$/.test(message)));

      busB.publish('tokens', 'from-b');
      await eventually(() => onA.includes('from-b'), 'instance A receives');
      // A's subscription is live now. Redis delivers in order, so an echo of `a-last` would reach A
      // before `from-b-again` does.
      busA.publish('tokens', 'a-last');
      busB.publish('tokens', 'from-b-again');
      await eventually(() => onA.includes('from-b-again'), 'instance A receives again');
      const earlier = Array.from({ length: sent }, (_, i) => `a${i + 1}`);
      t.deepEqual(onA, [...earlier, 'from-b', 'a-last', 'from-b-again'], 'an instance ignores its own echo');
    } finally {
      await busA.close();
      await busB.close();
      redisA.disconnect();
      redisB.disconnect();
    }
  });
} else {
  test.skip('Redis invalidation tests skipped: GATEHOUSE_TEST_REDIS_URL is not set', () => {});
}
