/**
 * The service the proxy benchmark puts behind gatehouse, in its own process: every path answers a
 * small fixed JSON document after reading the request body; `/events` streams three SSE events, the
 * first at once and the others `STREAM_GAP_MS` apart; paths under `/slow` answer after `SLOW_MS`
 * (a realistic service). Prints `listening <port>`.
 */
import { createServer } from 'node:http';

const STREAM_GAP_MS = Number(process.env.STREAM_GAP_MS ?? 5);
const SLOW_MS = Number(process.env.SLOW_MS ?? 50);
const DOCUMENT = JSON.stringify({ id: 42, name: 'quarterly report', state: 'ready', pages: 12, url: '/reports/42.pdf' });
const HEADERS = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(DOCUMENT) };
const SSE_HEADERS = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' };
const event = (data: string) => `data: ${data}\n\n`;

const server = createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    const path = req.url!;
    if (path.startsWith('/events')) {
      res.writeHead(200, SSE_HEADERS);
      res.write(event('"first"'));
      setTimeout(() => {
        res.write(event('"second"'));
        setTimeout(() => res.end(event('"last"')), STREAM_GAP_MS);
      }, STREAM_GAP_MS);
      return;
    }
    if (path.startsWith('/slow')) {
      setTimeout(() => {
        res.writeHead(200, HEADERS);
        res.end(DOCUMENT);
      }, SLOW_MS);
      return;
    }
    res.writeHead(200, HEADERS);
    res.end(DOCUMENT);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : ''}\n`);
});
