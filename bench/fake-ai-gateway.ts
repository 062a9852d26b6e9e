/**
 * The AI gateway the completions benchmark proxies to, in its own process: `POST /v2/code/completions`
 * answers a fixed JSON completion; `POST /v2/code/generations` streams three SSE events, the first at
 * once and the others `STREAM_GAP_MS` apart (so time to first byte differs from the total time).
 * Prints `listening <port>`.
 */
import { createServer } from 'node:http';

const STREAM_GAP_MS = Number(process.env.STREAM_GAP_MS ?? 5);
const COMPLETION = JSON.stringify({
  id: 'id',
  model: { engine: 'vertex-ai', name: 'code-gecko', lang: 'python' },
  object: 'text_completion',
  created: 1_700_000_000,
  choices: [{ text: 'return a + b', index: 0, finish_reason: 'length' }],
});
const COMPLETION_HEADERS = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(COMPLETION) };
const SSE_HEADERS = { 'Content-Type': 'text/event-stream', 'X-Streaming-Format': 'sse', 'Cache-Control': 'no-cache' };
const event = (name: string, data: string) => `event: ${name}\ndata: ${data}\n\n`;

const server = createServer((req, res) => {
  // Read (and drop) the body before answering, as a real gateway parses it.
  req.on('data', () => {});
  req.on('end', () => {
    if (req.url === '/v2/code/generations') {
      res.writeHead(200, SSE_HEADERS);
      res.write(event('stream_chunk', '"def"'));
      setTimeout(() => {
        res.write(event('stream_chunk', '" add(a, b):"'));
        setTimeout(() => res.end(event('stream_end', '"\\n    return a + b"')), STREAM_GAP_MS);
      }, STREAM_GAP_MS);
      return;
    }
    res.writeHead(200, COMPLETION_HEADERS);
    res.end(COMPLETION);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : ''}\n`);
});
