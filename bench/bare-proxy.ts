/**
 * Context for the completions benchmark (no target is measured against it): the least a proxy can do
 * in Node — node:http in, one keep-alive undici pool out, the body relayed — with no framework, auth,
 * validation, rate limit, log or metrics. Its share of the direct figure is the ceiling any proxy
 * written in Node reaches on the same machine. `UPSTREAM` is the AI gateway's origin; prints
 * `listening <port>`.
 */
import { createServer } from 'node:http';
import { Pool } from 'undici';

const upstream = new Pool(process.env.UPSTREAM!, { connections: 64 });

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', async () => {
    try {
      const answer = await upstream.request({ path: '/v2/code/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.concat(chunks) });
      const body = Buffer.from(await answer.body.arrayBuffer());
      res.writeHead(answer.statusCode, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    } catch {
      res.writeHead(502).end();
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : ''}\n`);
});
