import test from 'ava';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { startTestApp, ROOT_TOKEN, TEST_DATABASE_URL } from '../helpers/app.js';

/**
 * A TCP proxy in front of PostgreSQL that the test can cut and restore: the database "goes away"
 * for the gateway while it keeps running, as in a failover or a network partition.
 */
async function startProxy(target: URL) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = connect(Number(target.port || 5432), target.hostname);
        sockets.add(client).add(upstream);
        client.pipe(upstream).pipe(client);
        const drop = () => {
          client.destroy();
          upstream.destroy();
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as { port: number }).port;
        resolve();
      });
    });
  await listen();
  return {
    get port() {
      return port;
    },
    async cut() {
      const closed = new Promise((resolve) => server!.close(resolve));
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      await closed;
    },
    restore: listen,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => (server?.listening ? server.close(resolve) : resolve(undefined)));
    },
  };
}

if (!TEST_DATABASE_URL) {
  test('database outage tests skipped: GATEHOUSE_TEST_DATABASE_URL is not set (they need PostgreSQL to cut)', (t) => {
    t.log('set GATEHOUSE_TEST_DATABASE_URL to run them; CI does');
    t.pass();
  });
} else {
  test('a database that goes away: readiness 503, generic 500s with the cause logged, recovery when it returns', async (t) => {
    const target = new URL(TEST_DATABASE_URL!);
    const proxy = await startProxy(target);
    const proxied = new URL(TEST_DATABASE_URL!);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(proxy.port);
    const app = await startTestApp({ config: { db: { url: proxied.toString() } }, captureLogs: true });
    try {
      t.is((await app.request('/-/readiness')).status, 200);
      t.is((await app.request('/api/v4/personal_access_tokens', { token: ROOT_TOKEN })).status, 200);

      await proxy.cut();
      const ready = await app.request('/-/readiness');
t.is(ready.status, 503);
      t.is(ready.body.status, 'failed');
      t.is(ready.body.checks.db.status, 'failed');
      // The token and the user are cached, but listing tokens reads the table: the generic 500.
      const during = await app.request('/api/v4/personal_access_tokens', { token: ROOT_TOKEN });
t.is(during.status, 500);
      t.deepEqual(during.body, { message: '500 Internal Server Error' });
      const requestId = during.headers.get('x-request-id');
      const logged = app.logs.find((line) => line.msg === 'request failed' && line.requestId === requestId);
      t.truthy(logged, 'the cause is logged with the request id');
      t.truthy(logged?.err?.message);

      await proxy.restore();
      let recovered = 0;
      for (let attempt = 0; attempt < 50 && recovered !== 200; attempt++) {
        recovered = (await app.request('/api/v4/personal_access_tokens', { token: ROOT_TOKEN })).status;
        if (recovered !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
      }
t.is(recovered, 200);
      t.is((await app.request('/-/readiness')).status, 200);
    } finally {
      await app.close();
      await proxy.close();
    }
  });
}
