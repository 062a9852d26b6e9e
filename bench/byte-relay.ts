/**
 * The floor of any Node proxy, for the realistic-service rounds of bench/proxy.ts: each client
 * connection piped to its own connection to the upstream, bytes both ways, no HTTP parsed at all. It
 * cannot authenticate, limit or rewrite anything (so it is no gateway); it shows what the event loop
 * and the sockets alone cost, beside the frameworkless HTTP proxy (bench/bare-proxy.ts) that adds
 * node:http and undici to it. `UPSTREAM` is the upstream's origin; prints `listening <port>`.
 */
import { connect, createServer } from 'node:net';

const upstream = new URL(process.env.UPSTREAM!);

const server = createServer((client) => {
  const service = connect(Number(upstream.port), upstream.hostname);
  client.setNoDelay(true);
  service.setNoDelay(true);
  client.pipe(service);
  service.pipe(client);
  const close = () => {
    client.destroy();
    service.destroy();
  };
  for (const socket of [client, service]) {
    socket.once('error', close);
    socket.once('close', close);
  }
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : ''}\n`);
});
