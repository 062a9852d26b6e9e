/**
 * What the benchmarks share: free ports, child processes whose output goes to a file, and autocannon
 * in its own process (so the load generator never shares an event loop with a measured server).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
export const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
export const WARMUP_S = 2;
/**
 * The Node options `npm start` runs gatehouse with, read from package.json's start script. The
 * benchmarks start gatehouse with them, as `npm start` does, and the frameworkless yardsticks too:
 * the comparison is of the code, not of the runtime's settings.
 */
export const NODE_FLAGS: string[] = (() => {
  const start = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  const flags = /\bnode((?:\s+--\S+)*)\s+dist\/core\/main\.js\b/.exec(start);
  if (!flags) throw new Error(`package.json's start script does not run dist/core/main.js with node: ${start}`);
  return flags[1].trim().split(/\s+/).filter(Boolean);
})();

/**
 * Untimed request pairs before the timed sequential (concurrency 1) requests of bench:proxy and
 * bench:completions: what a process needs before its code runs optimized. Measured on the completion
 * route in blocks of 2 000 pairs after 500 warm-up pairs, twice: the first block added 0.289 and 0.282 ms
 * over the frameworkless proxy, with both processes at about twice the main-thread CPU per request of
 * later blocks (705 against 270-370 µs for gatehouse, 385 against 175-230 for the proxy); the next three
 * blocks added 0.066-0.134 ms. The figure is a running gateway's, not its first seconds'.
 */
export const SEQUENTIAL_WARMUP = Number(process.env.BENCH_SEQUENTIAL_WARMUP ?? 4_000);

/** Alternating rounds of bare and gatehouse; the figures are their medians (a small VM is noisy). */
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/** A built checkout of gatehouse (`npm run build` done in it) whose `dist/core/main.js` is measured. */
export interface Build {
  label: string;
  root: string;
}

/**
 * The builds a run measures: this checkout, then every checkout named in `BENCH_COMPARE`
 * (comma-separated paths, each already built), so an A/B of a change against its base sees the same
 * machine in the same minutes: `BENCH_COMPARE=/tmp/base npm run bench`. Each round loads every build
 * in turn, in an order that alternates from round to round.
 */
export const BUILDS: Build[] = [
  { label: 'this checkout', root: ROOT },
  ...(process.env.BENCH_COMPARE ?? '')
    .split(',')
    .filter(Boolean)
    .map((path) => ({ label: resolve(path), root: resolve(path) })),
];

/** The builds in the order round `round` loads them: alternating, so neither always goes first. */
export const inRoundOrder = <T>(items: readonly T[], round: number): T[] => (round % 2 === 0 ? [...items] : [...items].reverse());

export const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

export async function freePort(): Promise<number> {
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
export function startProcess(command: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp, logFile: string, cwd = ROOT) {
  const started = process.hrtime.bigint();
  const fd = openSync(logFile, 'w');
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
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

export async function stop(child: ChildProcess) {
  if (child.exitCode !== null) return;
  child.removeAllListeners('exit');
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGTERM');
  await exited;
}

export interface LoadResult {
  requestsPerSecond: number;
  p99Ms: number;
  p50Ms: number;
  non2xx: number;
  errors: number;
  peakRssMb?: number;
  /**
   * The target's CPU time (user + system) per answered request, in µs: what a request costs the
   * server, which other processes on a busy machine do not inflate the way they cut req/s.
   */
  cpuUsPerRequest?: number;
}

/** CPU time a process has used so far, user + system, in µs (from /proc, in clock ticks of 10 ms). */
export function cpuUs(pid: number): number {
  // Fields after the parenthesised command name: state is the 1st, utime the 12th and stime the 13th.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/** A request other than a plain GET: method and body, as autocannon's `-m` and `-b`. */
export interface LoadRequest {
  method?: string;
  body?: string;
  /** Concurrent connections (default CONNECTIONS). */
  connections?: number;
}

/** Runs autocannon in its own process; samples the target's RSS meanwhile. */
export async function load(
  url: string,
  headers: Record<string, string>,
  durationS: number,
  targetPid?: number,
  request: LoadRequest = {},
): Promise<LoadResult> {
  const args = [join(ROOT, 'node_modules/autocannon/autocannon.js'), '-c', String(request.connections ?? CONNECTIONS), '-d', String(durationS), '-j'];
  if (request.method) args.push('-m', request.method);
  if (request.body !== undefined) args.push('-b', request.body);
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}=${v}`);
  args.push(url);
  let peak = 0;
  const cpuBefore = targetPid ? cpuUs(targetPid) : 0;
  const sampler = targetPid ? setInterval(() => (peak = Math.max(peak, rssMb(targetPid))), 200) : undefined;
  const output = await new Promise<string>((done, fail) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => (code === 0 ? done(out) : fail(new Error(`autocannon exited ${code}`))));
  });
  if (sampler) clearInterval(sampler);
  const cpuUsed = targetPid ? cpuUs(targetPid) - cpuBefore : 0;
  const result = JSON.parse(output);
  return {
    requestsPerSecond: result.requests.average,
    p99Ms: result.latency.p99,
    p50Ms: result.latency.p50,
    non2xx: result.non2xx,
    errors: result.errors,
    peakRssMb: targetPid ? Math.round(peak * 10) / 10 : undefined,
    cpuUsPerRequest: targetPid && result.requests.total > 0 ? Math.round((cpuUsed / result.requests.total) * 10) / 10 : undefined,
  };
}

/** One load in a side-by-side round: a URL with its headers and request. */
export interface LoadTarget {
  url: string;
  headers: Record<string, string>;
  request?: LoadRequest;
  pid?: number;
}

/**
 * Loads every target at once, each with its own autocannon, for `durationS`. Run this way, builds
 * see the same machine at the same instant: when other work comes and goes, it takes from all of them
 * alike, and as each server gets an equal share of what CPU is left, the ratio of their req/s is the
 * inverse ratio of their costs per request. Sequential rounds cannot separate a 2 % difference on a
 * machine whose load swings more than that from one ten-second round to the next.
 */
export async function loadSideBySide(targets: readonly LoadTarget[], durationS: number): Promise<LoadResult[]> {
  return Promise.all(targets.map((target) => load(target.url, target.headers, durationS, target.pid, target.request)));
}

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
const TICKS_PER_S = 100;

/** CPU seconds the process's main thread has used (user + system), from /proc. */
export function mainThreadCpuS(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

/** One server of a side-by-side comparison: its URL, headers and request, and its process. */
export interface ComparedServer extends LoadTarget {
  pid: number;
}

/**
 * gatehouse and its yardstick loaded at the same time, each by its own autocannon with the same
 * connections, for `rounds` rounds of `durationS`: per round, the ratio of their req/s and of their
 * main-thread CPU per request. Why beside the alternating rounds: on a shared VM the machine's speed
 * swings by a third from one ten-second round to the next (the same build measured 0.62 and 0.99 of
 * the yardstick in two consecutive pairs of rounds), and a swing that falls between the two halves of
 * an alternating pair moves the ratio; loaded together, both see the same machine at the same instant.
 * The ratios are medians over the rounds.
 */
export async function sideBySide(gatehouse: ComparedServer, yardstick: ComparedServer, rounds: number, durationS: number) {
  const results: Array<{ gatehouseRps: number; yardstickRps: number; ratio: number; gatehouseCpuUs: number; yardstickCpuUs: number; cpuRatio: number }> = [];
  for (let i = 0; i < rounds; i++) {
    const before = [mainThreadCpuS(gatehouse.pid), mainThreadCpuS(yardstick.pid)];
    const [ours, theirs] = await loadSideBySide([gatehouse, yardstick], durationS);
    const gatehouseCpuUs = ((mainThreadCpuS(gatehouse.pid) - before[0]) / (ours.requestsPerSecond * durationS)) * 1e6;
    const yardstickCpuUs = ((mainThreadCpuS(yardstick.pid) - before[1]) / (theirs.requestsPerSecond * durationS)) * 1e6;
    results.push({
      gatehouseRps: Math.round(ours.requestsPerSecond),
      yardstickRps: Math.round(theirs.requestsPerSecond),
      ratio: rounded(ours.requestsPerSecond / theirs.requestsPerSecond),
      gatehouseCpuUs: Math.round(gatehouseCpuUs * 10) / 10,
      yardstickCpuUs: Math.round(yardstickCpuUs * 10) / 10,
      cpuRatio: rounded(gatehouseCpuUs / yardstickCpuUs),
    });
  }
  return { ratio: median(results.map((r) => r.ratio)), cpuRatio: median(results.map((r) => r.cpuRatio)), rounds: results };
}

const rounded = (value: number) => Math.round(value * 1000) / 1000;

/**
 * This checkout's rounds against another build's (`other` is its index in each side-by-side round):
 * req/s of this over that per alternating round and per side-by-side round, and the server CPU per
 * request over every round of both kinds, the figure other work on the machine hardly moves.
 */
export function comparedRounds(these: readonly LoadResult[], others: readonly LoadResult[], sideBySide: readonly LoadResult[][], other: number) {
  const perRound = these.map((result, index) => result.requestsPerSecond / others[index].requestsPerSecond);
  const together = sideBySide.map((results) => results[0].requestsPerSecond / results[other].requestsPerSecond);
  return {
    thisOverCompared: rounded(median(perRound)),
    thisOverComparedRounds: perRound.map(rounded),
    sideBySide: {
      thisOverCompared: rounded(median(together)),
      rounds: sideBySide.map((results) => ({
        thisRps: Math.round(results[0].requestsPerSecond),
        thisP99Ms: results[0].p99Ms,
        otherRps: Math.round(results[other].requestsPerSecond),
        otherP99Ms: results[other].p99Ms,
        thisOverOther: rounded(results[0].requestsPerSecond / results[other].requestsPerSecond),
        thisCpuUsPerRequest: results[0].cpuUsPerRequest,
        otherCpuUsPerRequest: results[other].cpuUsPerRequest,
      })),
    },
    cpuUsPerRequest: {
      this: median([...these, ...sideBySide.map((results) => results[0])].map((result) => result.cpuUsPerRequest ?? 0)),
      other: median([...others, ...sideBySide.map((results) => results[other])].map((result) => result.cpuUsPerRequest ?? 0)),
    },
  };
}

/** One API call as an operator makes it (Bearer token, JSON body); its JSON answer, or an error naming the status. */
export async function api(base: string, token: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status >= 300) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
  return JSON.parse(text);
}

/** A new user and a personal access token of theirs with `scopes`, made through the API by the root admin. */
export async function createBenchUser(base: string, rootToken: string, scopes: readonly string[]): Promise<{ user: { id: number; username: string }; token: string }> {
  const username = `bench${Date.now().toString(36)}`;
  const user = await api(base, rootToken, 'POST', '/api/v4/users', { username, name: 'Bench User', email: `${username}@example.com`, password: 'correct-horse-battery-staple' });
  const pat = await api(base, rootToken, 'POST', `/api/v4/users/${user.id}/personal_access_tokens`, {
    name: 'bench',
    scopes,
    expires_at: new Date(Date.now() + 86_400_000 * 30).toISOString().slice(0, 10),
  });
  return { user, token: pat.token as string };
}

/** Runs a benchmark's `main`; a failure prints its stack and exits 1. */
export function runBenchmark(main: () => Promise<void>): void {
  main().catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : error}\n`);
    process.exit(1);
  });
}
