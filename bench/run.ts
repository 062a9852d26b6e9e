/**
 * `npm run bench`: measures gatehouse against a bare Koa + @koa/router route in one run, with the load
 * generator (autocannon) in its own process so it does not share an event loop with either server.
 *
 * Figures: requests/s and p99 at 50 connections for `GET /api/v4/personal_access_tokens/self` with a
 * PAT on SQLite (target ≥ 50 % of bare, p99 ≤ 10 ms), boot-to-listening on an existing database
 * (target ≤ 1.5 s), and the gateway's peak RSS under that load (target ≤ 150 MB).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
const WARMUP_S = 2;
/** Alternating rounds of bare and gatehouse; the figures are their medians (a small VM is noisy). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ROOT_TOKEN = 'glpat-bench-root-token-000000000000';

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => done(port));
    });
  });
}

/**
 * Starts a process with its output going to a file (as a service's logs would) and resolves when the
 * file shows `ready` (a regex), with the elapsed time. A pipe would make this process parse every log
 * line of the gateway under load, stealing CPU from the measured server on a small machine.
 */
function startProcess(command: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp, logFile: string) {
  const started = process.hrtime.bigint();
  const fd = openSync(logFile, 'w');
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const output = () => readFileSync(logFile, 'utf8');
  return new Promise<{ child: ChildProcess; bootMs: number; output: () => string }>((done, fail) => {
    const poll = setInterval(() => {
      if (!ready.test(output())) return;
      clearInterval(poll);
      child.removeAllListeners('exit');
      done({ child, bootMs: Number(process.hrtime.bigint() - started) / 1e6, output });
    }, 5);
    child.once('exit', (code) => {
      clearInterval(poll);
      fail(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${output()}`));
    });
  });
}

async function stop(child: ChildProcess) {
  if (child.exitCode !== null) return;
  child.removeAllListeners('exit');
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGTERM');
  await exited;
}

interface LoadResult {
  requestsPerSecond: number;
  p99Ms: number;
  p50Ms: number;
  non2xx: number;
  errors: number;
  peakRssMb?: number;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/** Runs autocannon in its own process; samples the target's RSS meanwhile. */
async function load(url: string, headers: Record<string, string>, durationS: number, targetPid?: number): Promise<LoadResult> {
  const args = [join(ROOT, 'node_modules/autocannon/autocannon.js'), '-c', String(CONNECTIONS), '-d', String(durationS), '-j'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}=${v}`);
  args.push(url);
  let peak = 0;
  const sampler = targetPid ? setInterval(() => (peak = Math.max(peak, rssMb(targetPid))), 200) : undefined;
  const output = await new Promise<string>((done, fail) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => (code === 0 ? done(out) : fail(new Error(`autocannon exited ${code}`))));
  });
  if (sampler) clearInterval(sampler);
  const result = JSON.parse(output);
  return {
    requestsPerSecond: result.requests.average,
    p99Ms: result.latency.p99,
    p50Ms: result.latency.p50,
    non2xx: result.non2xx,
    errors: result.errors,
    peakRssMb: targetPid ? Math.round(peak * 10) / 10 : undefined,
  };
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
  const port = await freePort();
  const gatehouseEnv = {
    GATEHOUSE_DATA_DIR: dataDir,
    GATEHOUSE_SERVER__PORT: String(port),
    GATEHOUSE_ROOT_TOKEN: ROOT_TOKEN,
    NODE_ENV: 'production',
  };
  const gatehouseArgs = [join(ROOT, 'dist/core/main.js'), 'start'];
  const listening = /gatehouse listening on/;
  try {
    // First boot creates and migrates the database; the measured boot is the second, on an existing one.
    const first = await startProcess(process.execPath, gatehouseArgs, gatehouseEnv, listening, join(dataDir, 'first-boot.log'));
    await stop(first.child);
    const gatehouse = await startProcess(process.execPath, gatehouseArgs, gatehouseEnv, listening, join(dataDir, 'gatehouse.log'));
    const bare = await startProcess(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/bare-koa.ts')], { PORT: String(await freePort()) }, /listening \d+/, join(dataDir, 'bare.log'));
    const barePort = /listening (\d+)/.exec(bare.output())![1];
    try {
      const bareUrl = `http://127.0.0.1:${barePort}/bare`;
      const selfUrl = `http://127.0.0.1:${port}/api/v4/personal_access_tokens/self`;
      const auth = { Authorization: `Bearer ${ROOT_TOKEN}` };
      const probe = await fetch(selfUrl, { headers: auth });
      if (probe.status !== 200) throw new Error(`gatehouse answered ${probe.status}: ${await probe.text()}`);

      await load(bareUrl, {}, WARMUP_S);
      await load(selfUrl, auth, WARMUP_S);
      const rounds: Array<{ bare: LoadResult; gatehouse: LoadResult; ratio: number }> = [];
      for (let round = 0; round < ROUNDS; round++) {
        const bareRound = await load(bareUrl, {}, DURATION_S, bare.child.pid);
        const gatehouseRound = await load(selfUrl, auth, DURATION_S, gatehouse.child.pid);
        rounds.push({ bare: bareRound, gatehouse: gatehouseRound, ratio: gatehouseRound.requestsPerSecond / bareRound.requestsPerSecond });
      }
      const median = [...rounds].sort((a, b) => a.ratio - b.ratio)[Math.floor(rounds.length / 2)];
      const bareResult = median.bare;
      const gatehouseResult = { ...median.gatehouse, peakRssMb: Math.max(...rounds.map((r) => r.gatehouse.peakRssMb ?? 0)) };
      const ratio = median.ratio;
      const report = {
        date: new Date().toISOString(),
        node: process.version,
        connections: CONNECTIONS,
        durationSeconds: DURATION_S,
        rounds: rounds.map((r) => ({
          bareRps: Math.round(r.bare.requestsPerSecond),
          gatehouseRps: Math.round(r.gatehouse.requestsPerSecond),
          gatehouseP99Ms: r.gatehouse.p99Ms,
          ratio: Math.round(r.ratio * 1000) / 1000,
        })),
        bareKoa: bareResult,
        patSelf: gatehouseResult,
        ratio: Math.round(ratio * 1000) / 1000,
        bootToListeningMs: Math.round(gatehouse.bootMs),
        targets: {
          ratio: '>= 0.50',
          p99Ms: '<= 10',
          bootMs: '<= 1500',
          rssMb: '<= 150',
        },
        pass: {
          ratio: ratio >= 0.5,
          p99: gatehouseResult.p99Ms <= 10,
          boot: gatehouse.bootMs <= 1500,
          rss: (gatehouseResult.peakRssMb ?? 0) <= 150,
        },
      };
      mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
      writeFileSync(join(ROOT, 'bench/results/latest.json'), `${JSON.stringify(report, null, 2)}\n`);
      process.stdout.write(
        [
          `bare Koa route:                ${Math.round(bareResult.requestsPerSecond)} req/s, p99 ${bareResult.p99Ms} ms`,
          `GET /personal_access_tokens/self: ${Math.round(gatehouseResult.requestsPerSecond)} req/s, p99 ${gatehouseResult.p99Ms} ms, non-2xx ${gatehouseResult.non2xx}`,
          `ratio:                         ${report.ratio} (target ≥ 0.50; median of ${ROUNDS} alternating rounds: ${report.rounds.map((r) => r.ratio).join(', ')})`,
          `boot to listening (existing db): ${report.bootToListeningMs} ms (target ≤ 1500)`,
          `peak RSS under load:           ${gatehouseResult.peakRssMb} MB (target ≤ 150)`,
          `pass: ${JSON.stringify(report.pass)}`,
          '',
        ].join('\n'),
      );
    } finally {
      await stop(bare.child);
      await stop(gatehouse.child);
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : error}\n`);
  process.exit(1);
});
