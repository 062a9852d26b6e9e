import test from 'ava';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { backendName } from '../../helpers/app.js';
import { routeConfig, startProxyApp, userWithToken } from './_support.js';

// Alone in its file (its own worker process), with the upstream and the client in a child process:
// the RSS measured here is the gateway's.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

test(`[${backendName}] a 50 MB upload streams through with bounded memory`, async (t) => {
  const peer = spawn(process.execPath, [fileURLToPath(new URL('./upload-peer.mjs', import.meta.url))], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: peer.stdout! })[Symbol.asyncIterator]();
  const next = async () => JSON.parse((await lines.next()).value as string);
  t.teardown(() => void peer.kill());
  const { upstream } = await next();
  const app = await startProxyApp([routeConfig({ upstreams: [upstream], maxBodyBytes: 100 * 1024 * 1024 })]);
  t.teardown(() => app.close());
  const { plaintext } = await userWithToken(app, ['api']);
  const size = 50 * 1024 * 1024;

  gc();
  const before = process.memoryUsage().rss;
  let peak = before;
  // Collected every so often, so the peak is what the gateway holds, not garbage awaiting a collection.
  const sampler = setInterval(() => {
    gc();
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  peer.stdin!.write(`${JSON.stringify({ upload: { url: `${app.url}/reports/upload`, token: plaintext, size } })}\n`);
  const result = await next();
  clearInterval(sampler);
  t.is(result.status, 200, JSON.stringify(result));
  t.deepEqual(JSON.parse(result.body), { bytes: size });
  const growthMb = (peak - before) / 1024 / 1024;
  t.log(`gateway RSS growth during the upload: ${growthMb.toFixed(1)} MB`);
  // A buffered body would add its 50 MB at least.
  t.true(growthMb < 40, `RSS grew ${growthMb.toFixed(1)} MB`);
  peer.stdin!.write(`${JSON.stringify({ exit: true })}\n`);
});
