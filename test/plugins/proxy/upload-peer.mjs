// The other ends of the 50 MB upload test, in their own process so the test process's memory is the
// gateway's alone: an upstream that counts the bytes it receives, and a client streaming the upload.
// Reads commands from stdin (one JSON per line), writes results to stdout (one JSON per line).
import { createServer, request } from 'node:http';
import { createInterface } from 'node:readline';

const upstream = createServer((req, res) => {
  let bytes = 0;
  req.on('data', (chunk) => (bytes += chunk.length));
  req.on('end', () => res.end(JSON.stringify({ bytes })));
});
upstream.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ upstream: `http://127.0.0.1:${upstream.address().port}` })}\n`);
});

function upload({ url, token, size }) {
  const chunk = Buffer.alloc(64 * 1024, 7);
  const req = request(url, { method: 'POST', headers: { 'private-token': token, 'content-type': 'application/octet-stream', 'content-length': String(size) } }, (res) => {
    const parts = [];
    res.on('data', (part) => parts.push(part));
    res.on('end', () => process.stdout.write(`${JSON.stringify({ status: res.statusCode, body: Buffer.concat(parts).toString() })}\n`));
  });
  req.on('error', (error) => process.stdout.write(`${JSON.stringify({ error: error.message })}\n`));
  let sent = 0;
  const write = () => {
    while (sent < size) {
      sent += chunk.length;
      if (!req.write(chunk)) return void req.once('drain', write);
    }
    req.end();
  };
  write();
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line);
  if (command.upload) upload(command.upload);
  if (command.exit) process.exit(0);
});
