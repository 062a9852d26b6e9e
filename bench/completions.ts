/**
 * `npm run bench:completions` (and the last part of `npm run bench`): Code Suggestions completions
 * through gatehouse against the same requests sent straight to the AI gateway, in one run, with one
 * fake AI gateway in its own process (bench/fake-ai-gateway.ts).
 *
 * The yardstick is the frameworkless Node proxy of bench/bare-proxy.ts, sending the AI gateway the same
 * headers as gatehouse (a JWT, the identity and feature headers): the ceiling of any proxy written in
 * Node on this machine. Figures (targets from the issue):
 * - throughput at 20 connections ≥ 0.65 of the frameworkless proxy: autocannon in its own process,
 *   alternating rounds; the same measured with both loaded at once is reported beside it (`sideBySide`);
 * - added latency at concurrency 1 over the frameworkless proxy, p50 ≤ 0.15 ms and p99 ≤ 1 ms:
 *   sequential keep-alive requests timed here with hrtime (autocannon's histogram has whole-millisecond
 *   resolution), alternating so both see the same machine;
 * - streaming time to first byte added over it, p50 ≤ 1 ms: the same for `intent: generation,
 *   stream: true` (SSE), timed to the first body chunk.
 * For continuity, the earlier figures against the AI gateway itself (throughput share, added latency).
 *
 * The completions rate limit stays on, raised far above what the run sends. `BENCH_SEQUENTIAL` sets the
 * number of timed sequential requests per target (after `BENCH_SEQUENTIAL_WARMUP` untimed pairs); `BENCH_KEEP=1` keeps the data directory and the logs.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { DURATION_S, ROOT, ROUNDS, WARMUP_S, createBenchUser, freePort, load, startProcess, stop, type LoadResult, runBenchmark, NODE_FLAGS, SEQUENTIAL_WARMUP, sideBySide } from './lib.js';

const ROOT_TOKEN = 'glpat-bench-root-token-000000000000';
const RATE_LIMIT = 100_000_000;
const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 2_000);
const THROUGHPUT_CONNECTIONS = 20;

const COMPLETION_BODY = JSON.stringify({
  prompt_version: 1,
  project_path: '',
  project_id: -1,
  current_file: { content_above_cursor: 'def add(a, b):\n    ', content_below_cursor: '', file_name: 'main.py' },
  choices_count: 1,
});
const STREAM_BODY = JSON.stringify({ ...JSON.parse(COMPLETION_BODY), intent: 'generation', stream: true, generation_type: 'small_file' });

const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];


/** A user with an `ai_features` token, made through the API as an operator would. */
const seed = async (base: string) => (await createBenchUser(base, ROOT_TOKEN, ['ai_features'])).token;

interface Target {
  pool: Pool;
  path: string;
  headers: Record<string, string>;
}

/** One request; resolves with [ms to the first body chunk, ms to the end]. */
async function timeOne(target: Target, body: string): Promise<[number, number]> {
  const started = process.hrtime.bigint();
  const response = await target.pool.request({ path: target.path, method: 'POST', headers: target.headers, body });
  let first = 0;
  for await (const _chunk of response.body) if (!first) first = Number(process.hrtime.bigint() - started) / 1e6;
  if (response.statusCode !== 200) throw new Error(`${target.path} answered ${response.statusCode}`);
  return [first, Number(process.hrtime.bigint() - started) / 1e6];
}

/** Alternating sequential requests to both targets; p50/p99 of each and what gatehouse adds. */
async function sequential(direct: Target, gatehouse: Target, body: string, pick: 0 | 1) {
  for (let i = 0; i < SEQUENTIAL_WARMUP; i++) {
    await timeOne(direct, body);
    await timeOne(gatehouse, body);
  }
  const times = { direct: [] as number[], gatehouse: [] as number[] };
  for (let i = 0; i < SEQUENTIAL; i++) {
    // Alternate which goes first, so neither always follows the other.
    if (i % 2) {
      times.direct.push((await timeOne(direct, body))[pick]);
      times.gatehouse.push((await timeOne(gatehouse, body))[pick]);
    } else {
      times.gatehouse.push((await timeOne(gatehouse, body))[pick]);
      times.direct.push((await timeOne(direct, body))[pick]);
    }
  }
  const sortedDirect = times.direct.sort((a, b) => a - b);
  const sortedGatehouse = times.gatehouse.sort((a, b) => a - b);
  const figures = {
    directP50Ms: round(percentile(sortedDirect, 50)),
    directP99Ms: round(percentile(sortedDirect, 99)),
    gatehouseP50Ms: round(percentile(sortedGatehouse, 50)),
    gatehouseP99Ms: round(percentile(sortedGatehouse, 99)),
  };
  return { ...figures, addedP50Ms: round(figures.gatehouseP50Ms - figures.directP50Ms), addedP99Ms: round(figures.gatehouseP99Ms - figures.directP99Ms) };
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-completions-'));
  const port = await freePort();
  try {
    const fake = await startProcess(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/fake-ai-gateway.ts')], { PORT: String(await freePort()) }, /listening \d+/, join(dataDir, 'fake.log'));
    const fakeUrl = `http://127.0.0.1:${/listening (\d+)/.exec(fake.output())![1]}`;
    const gatehouse = await startProcess(
      process.execPath,
      [...NODE_FLAGS, join(ROOT, 'dist/core/main.js'), 'start'],
      {
        GATEHOUSE_DATA_DIR: dataDir,
        GATEHOUSE_SERVER__PORT: String(port),
        GATEHOUSE_ROOT_TOKEN: ROOT_TOKEN,
        GATEHOUSE_PLUGINS__CODE_SUGGESTIONS__AI_GATEWAY_URL: fakeUrl,
        GATEHOUSE_PLUGINS__CODE_SUGGESTIONS__COMPLETIONS_RATE_LIMIT: String(RATE_LIMIT),
        NODE_ENV: 'production',
      },
      /gatehouse listening on/,
      join(dataDir, 'gatehouse.log'),
    );
    const bareProxy = await startProcess(process.execPath, [...NODE_FLAGS, '--import', 'tsx', join(ROOT, 'bench/bare-proxy.ts')], { PORT: String(await freePort()), UPSTREAM: fakeUrl }, /listening \d+/, join(dataDir, 'bare-proxy.log'));
    const bareProxyUrl = `http://127.0.0.1:${/listening (\d+)/.exec(bareProxy.output())![1]}/v2/code/completions`;
    const base = `http://127.0.0.1:${port}`;
    const directPool = new Pool(fakeUrl, { connections: 1 });
    const gatehousePool = new Pool(base, { connections: 1 });
    const bareProxyPool = new Pool(new URL(bareProxyUrl).origin, { connections: 1 });
    try {
      const token = await seed(base);
      const json = { 'content-type': 'application/json' };
      const auth = { ...json, authorization: `Bearer ${token}` };
      const completions = {
        direct: { pool: directPool, path: '/v2/code/completions', headers: json },
        gatehouse: { pool: gatehousePool, path: '/api/v4/code_suggestions/completions', headers: auth },
      };
      const streams = {
        direct: { pool: directPool, path: '/v2/code/generations', headers: json },
        gatehouse: { pool: gatehousePool, path: '/api/v4/code_suggestions/completions', headers: { ...auth, 'x-supports-sse-streaming': 'true' } },
      };
      const bareCompletions = { pool: bareProxyPool, path: '/v2/code/completions', headers: json };
      const bareStreams = { pool: bareProxyPool, path: '/v2/code/generations', headers: json };
      const latency = await sequential(bareCompletions, completions.gatehouse, COMPLETION_BODY, 1);
      const ttfb = await sequential(bareStreams, streams.gatehouse, STREAM_BODY, 0);
      // For continuity: what gatehouse and the frameworkless proxy add over the AI gateway itself.
      const directLatency = await sequential(completions.direct, completions.gatehouse, COMPLETION_BODY, 1);
      const bareProxyLatency = await sequential(completions.direct, bareCompletions, COMPLETION_BODY, 1);

      const post = { method: 'POST', body: COMPLETION_BODY, connections: THROUGHPUT_CONNECTIONS };
      const directUrl = `${fakeUrl}/v2/code/completions`;
      const gatehouseUrl = `${base}/api/v4/code_suggestions/completions`;
      const loadHeaders = { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` };
      await load(directUrl, { 'Content-Type': 'application/json' }, WARMUP_S, undefined, post);
      await load(gatehouseUrl, loadHeaders, WARMUP_S, undefined, post);
      await load(bareProxyUrl, { 'Content-Type': 'application/json' }, WARMUP_S, undefined, post);
      const rounds: Array<{ direct: LoadResult; gatehouse: LoadResult; bareProxy: LoadResult; ratio: number; directRatio: number; bareProxyRatio: number }> = [];
      for (let i = 0; i < ROUNDS; i++) {
        const directRound = await load(directUrl, { 'Content-Type': 'application/json' }, DURATION_S, fake.child.pid, post);
        const gatehouseRound = await load(gatehouseUrl, loadHeaders, DURATION_S, gatehouse.child.pid, post);
        const bareProxyRound = await load(bareProxyUrl, { 'Content-Type': 'application/json' }, DURATION_S, undefined, post);
        rounds.push({
          direct: directRound,
          gatehouse: gatehouseRound,
          bareProxy: bareProxyRound,
          ratio: gatehouseRound.requestsPerSecond / bareProxyRound.requestsPerSecond,
          directRatio: gatehouseRound.requestsPerSecond / directRound.requestsPerSecond,
          bareProxyRatio: bareProxyRound.requestsPerSecond / directRound.requestsPerSecond,
        });
      }
      const median = [...rounds].sort((a, b) => a.ratio - b.ratio)[Math.floor(rounds.length / 2)];
      const together = await sideBySide(
        { url: gatehouseUrl, headers: loadHeaders, request: post, pid: gatehouse.child.pid! },
        { url: bareProxyUrl, headers: { 'Content-Type': 'application/json' }, request: post, pid: bareProxy.child.pid! },
        ROUNDS,
        DURATION_S,
      );

      const report = {
        date: new Date().toISOString(),
        node: process.version,
        sequentialRequests: SEQUENTIAL,
        sequentialWarmup: SEQUENTIAL_WARMUP,
        latencyAtConcurrency1OverFrameworkless: latency,
        streamingTimeToFirstByteOverFrameworkless: ttfb,
        latencyAtConcurrency1OverDirect: { ...directLatency, bareProxyAddedP50Ms: bareProxyLatency.addedP50Ms, bareProxyAddedP99Ms: bareProxyLatency.addedP99Ms },
        throughputAt20: {
          rounds: rounds.map((r) => ({
            directRps: Math.round(r.direct.requestsPerSecond),
            gatehouseRps: Math.round(r.gatehouse.requestsPerSecond),
            gatehouseP99Ms: r.gatehouse.p99Ms,
            gatehouseNon2xx: r.gatehouse.non2xx,
            ratio: round(r.ratio),
            directRatio: round(r.directRatio),
            bareProxyRps: Math.round(r.bareProxy.requestsPerSecond),
            bareProxyRatio: round(r.bareProxyRatio),
          })),
          direct: median.direct,
          bareProxyRatio: round(median.bareProxyRatio),
          gatehouse: { ...median.gatehouse, peakRssMb: Math.max(...rounds.map((r) => r.gatehouse.peakRssMb ?? 0)) },
          ratio: round(median.ratio),
          shareOfDirect: round(median.directRatio),
          sideBySide: together,
        },
        targets: { addedP50Ms: '<= 0.15', addedP99Ms: '<= 1', ttfbAddedP50Ms: '<= 1', throughputRatioAt20: '>= 0.65' },
        pass: {
          addedP50: latency.addedP50Ms <= 0.15,
          addedP99: latency.addedP99Ms <= 1,
          ttfbAddedP50: ttfb.addedP50Ms <= 1,
          throughputAt20: median.ratio >= 0.65,
          no429s: rounds.every((r) => r.gatehouse.non2xx === 0),
        },
      };
      mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
      writeFileSync(join(ROOT, 'bench/results/completions.json'), `${JSON.stringify(report, null, 2)}\n`);
      process.stdout.write(
        [
          `throughput, 20 connections:    frameworkless ${Math.round(median.bareProxy.requestsPerSecond)} req/s, gatehouse ${Math.round(median.gatehouse.requestsPerSecond)} req/s (p99 ${median.gatehouse.p99Ms} ms), direct ${Math.round(median.direct.requestsPerSecond)} req/s`,
          `  ratio to frameworkless:      ${report.throughputAt20.ratio} (target ≥ 0.65; median of ${ROUNDS} alternating rounds: ${report.throughputAt20.rounds.map((r) => r.ratio).join(', ')})`,
          `  side by side (both loaded at once): ratio ${together.ratio}, main-thread CPU ${together.cpuRatio}× (medians of ${ROUNDS} rounds: ${together.rounds.map((r) => `${r.ratio}/${r.cpuRatio}×`).join(', ')})`,
          `  share of direct:             gatehouse ${report.throughputAt20.shareOfDirect}, frameworkless ${report.throughputAt20.bareProxyRatio} (earlier figures, for continuity)`,
          `completions, c=1, over frameworkless: p50 ${latency.directP50Ms} → ${latency.gatehouseP50Ms} ms, added ${latency.addedP50Ms} ms (target ≤ 0.15); p99 ${latency.directP99Ms} → ${latency.gatehouseP99Ms} ms, added ${latency.addedP99Ms} ms (target ≤ 1)`,
          `streaming first byte, c=1:     frameworkless p50 ${ttfb.directP50Ms} ms, gatehouse ${ttfb.gatehouseP50Ms} ms, added ${ttfb.addedP50Ms} ms (target ≤ 1)`,
          `over the AI gateway itself:    gatehouse adds p50 ${directLatency.addedP50Ms} ms, p99 ${directLatency.addedP99Ms} ms; frameworkless adds p50 ${bareProxyLatency.addedP50Ms} ms, p99 ${bareProxyLatency.addedP99Ms} ms (continuity)`,
          `pass: ${JSON.stringify(report.pass)}`,
          '',
        ].join('\n'),
      );
    } finally {
      await directPool.close();
      await gatehousePool.close();
      await bareProxyPool.close();
      await stop(gatehouse.child);
      await stop(bareProxy.child);
      await stop(fake.child);
    }
  } finally {
    if (!process.env.BENCH_KEEP) rmSync(dataDir, { recursive: true, force: true });
    else process.stderr.write(`kept ${dataDir}\n`);
  }
}

runBenchmark(main);
