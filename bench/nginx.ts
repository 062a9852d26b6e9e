/**
 * nginx as a reverse proxy, when it is installed (Debian's `nginx` package): what a proxy written in
 * C reaches on the same machine, reported beside the frameworkless Node proxy where the load leaves
 * room for the difference (the realistic-service rounds of bench/proxy.ts). One worker process, as
 * gatehouse runs one event loop; keep-alive connections to the upstream, as gatehouse's pool keeps.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './lib.js';

export interface Nginx {
  /** Base URL; `prefix` and what follows it are passed to the upstream without the prefix. */
  url: string;
  stop(): Promise<void>;
}

/** Whether an `nginx` binary runs here. */
const installed = () => spawnSync('nginx', ['-v'], { stdio: 'ignore' }).status === 0;

/** nginx proxying `prefix` to `upstream` (an origin), its files in `dir`; undefined when nginx is not installed. */
export async function startNginx(upstream: string, prefix: string, dir: string): Promise<Nginx | undefined> {
  if (!installed()) return undefined;
  const port = await freePort();
  const upstreamHost = new URL(upstream).host;
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `${kind}_temp_path ${dir};`).join(' ');
  const config = join(dir, 'nginx.conf');
  writeFileSync(
    config,
    `worker_processes 1; daemon off; pid ${join(dir, 'nginx.pid')}; error_log ${join(dir, 'nginx.log')};
events { worker_connections 4096; }
http {
  access_log off; ${temp}
  upstream service { server ${upstreamHost}; keepalive 256; }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 1000000;
    location ${prefix}/ { proxy_pass http://service/; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`,
  );
  const child: ChildProcess = spawn('nginx', ['-c', config], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  // Up when it answers (502 or anything else: the socket is open).
  for (let tries = 0; ; tries++) {
    const up = await fetch(url).then(() => true, () => false);
    if (up) break;
    if (tries > 100 || child.exitCode !== null) throw new Error(`nginx did not start (see ${join(dir, 'nginx.log')})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
