/**
 * `npm run bench:proxy` (and part of `npm run bench`): a proxy route (token auth, rate limit, identity
 * JWT; the body streamed, never parsed) against the frameworkless proxy of bench/bare-proxy.ts sending
 * the same upstream headers, and against the service itself, in one run. The service
 * (bench/fake-service.ts), gatehouse, the frameworkless proxy and the load generator each run in
 * their own process.
 *
 * Figures (targets from the issue):
 * - throughput at 20 connections ≥ 0.8 of the frameworkless proxy, and main-thread CPU per request
 *   ≤ 1.25× its (alternating rounds; CPU read from /proc for each server's main thread); the same
 *   measured with both loaded at once is reported beside it (see `sideBySide`);
 * - added latency at concurrency 1 over the frameworkless proxy: p50 ≤ 0.15 ms, p99 ≤ 1 ms
 *   (sequential keep-alive requests timed with hrtime, alternating);
 * - streaming time to first byte added over it, p50 ≤ 1 ms;
 * - a realistic service (answers after 50 ms) at 200 connections: ≥ 0.95 of direct, p99 added ≤ 5 ms;
 *   the frameworkless proxy under the same load is reported beside it (what any Node proxy reaches),
 *   a Node process relaying bytes without parsing HTTP (bench/byte-relay.ts: the floor of any Node
 *   proxy), and nginx when it is installed (bench/nginx.ts: what a proxy written in C reaches).
 * For continuity, the throughput at 20 connections as a share of direct.
 *
 * `BENCH_SEQUENTIAL` sets the timed sequential requests per target (after `BENCH_SEQUENTIAL_WARMUP`
 * untimed pairs); `BENCH_KEEP=1` keeps the logs.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { startNginx } from './nginx.js';
import { DURATION_S, ROOT, ROUNDS, WARMUP_S, createBenchUser, freePort, load, startProcess, stop, type LoadResult, runBenchmark, NODE_FLAGS, SEQUENTIAL_WARMUP, mainThreadCpuS, sideBySide } from './lib.js';

const ROOT_TOKEN = 'glpat-bench-root-token-000000000000';
const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 2_000);
const THROUGHPUT_CONNECTIONS = 20;
const REALISTIC_CONNECTIONS = 200;
const BODY = JSON.stringify({ title: 'quarterly report', pages: 12, sections: ['summary', 'figures', 'outlook'] });

const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];


/** A user with a `read_api` token, made through the API as an operator would. */
const seed = async (base: string) => (await createBenchUser(base, ROOT_TOKEN, ['read_api', 'api'])).token;

interface Target {
  pool: Pool;
  path: string;
  headers: Record<string, string>;
}

/** One GET; resolves with [ms to the first body chunk, ms to the end]. */
async function timeOne(target: Target): Promise<[number, number]> {
  const started = process.hrtime.bigint();
  const response = await target.pool.request({ path: target.path, method: 'GET', headers: target.headers });
  let first = 0;
  for await (const _chunk of response.body) if (!first) first = Number(process.hrtime.bigint() - started) / 1e6;
  if (response.statusCode !== 200) throw new Error(`${target.path} answered ${response.statusCode}`);
  return [first, Number(process.hrtime.bigint() - started) / 1e6];
}

/** Alternating sequential requests to both targets; p50/p99 of each and what the second adds. */
async function sequential(base: Target, measured: Target, pick: 0 | 1) {
  for (let i = 0; i < SEQUENTIAL_WARMUP; i++) {
    await timeOne(base);
    await timeOne(measured);
  }
  const times = { base: [] as number[], measured: [] as number[] };
  for (let i = 0; i < SEQUENTIAL; i++) {
    if (i % 2) {
      times.base.push((await timeOne(base))[pick]);
      times.measured.push((await timeOne(measured))[pick]);
    } else {
      times.measured.push((await timeOne(measured))[pick]);
      times.base.push((await timeOne(base))[pick]);
    }
  }
  const b = times.base.sort((x, y) => x - y);
  const m = times.measured.sort((x, y) => x - y);
  const figures = { baseP50Ms: round(percentile(b, 50)), baseP99Ms: round(percentile(b, 99)), p50Ms: round(percentile(m, 50)), p99Ms: round(percentile(m, 99)) };
  return { ...figures, addedP50Ms: round(figures.p50Ms - figures.baseP50Ms), addedP99Ms: round(figures.p99Ms - figures.baseP99Ms) };
}

/** A load round with the main-thread CPU the server spent per request. */
async function measuredLoad(url: string, headers: Record<string, string>, pid: number, request: Parameters<typeof load>[4]) {
  const cpuBefore = mainThreadCpuS(pid);
  const result = await load(url, headers, DURATION_S, pid, request);
  const cpuS = mainThreadCpuS(pid) - cpuBefore;
  const requests = result.requestsPerSecond * DURATION_S;
  return { ...result, cpuUsPerRequest: requests > 0 ? round((cpuS / requests) * 1e6, 1) : 0 };
}

const median = <T>(items: T[], key: (item: T) => number) => [...items].sort((a, b) => key(a) - key(b))[Math.floor(items.length / 2)];

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-proxy-'));
  const port = await freePort();
  try {
    const service = await startProcess(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/fake-service.ts')], { PORT: String(await freePort()) }, /listening \d+/, join(dataDir, 'service.log'));
    const serviceUrl = `http://127.0.0.1:${/listening (\d+)/.exec(service.output())![1]}`;
    const configFile = join(dataDir, 'bench.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        plugins: {
          proxy: {
            routes: [
              {
                name: 'svc',
                path: '/svc',
                upstreams: [serviceUrl],
                stripPrefix: true,
                auth: { strategy: 'token', scopes: ['read_api'] },
                rateLimit: { max: 100_000_000, windowMs: 60_000, by: 'user' },
                identity: 'jwt',
              },
            ],
          },
        },
      }),
    );
    const gatehouse = await startProcess(
      process.execPath,
      [...NODE_FLAGS, join(ROOT, 'dist/core/main.js'), 'start'],
      { GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_SERVER__PORT: String(port), GATEHOUSE_ROOT_TOKEN: ROOT_TOKEN, GATEHOUSE_CONFIG: configFile, NODE_ENV: 'production' },
      /gatehouse listening on/,
      join(dataDir, 'gatehouse.log'),
    );
    const bare = await startProcess(
      process.execPath,
      [...NODE_FLAGS, '--import', 'tsx', join(ROOT, 'bench/bare-proxy.ts')],
      { PORT: String(await freePort()), UPSTREAM: serviceUrl, MODE: 'stream', STRIP: '/svc' },
      /listening \d+/,
      join(dataDir, 'bare-proxy.log'),
    );
    const bareBase = `http://127.0.0.1:${/listening (\d+)/.exec(bare.output())![1]}`;
    const relay = await startProcess(process.execPath, [...NODE_FLAGS, '--import', 'tsx', join(ROOT, 'bench/byte-relay.ts')], { PORT: String(await freePort()), UPSTREAM: serviceUrl }, /listening \d+/, join(dataDir, 'byte-relay.log'));
    const base = `http://127.0.0.1:${port}`;
    const pools = { direct: new Pool(serviceUrl, { connections: 1 }), gatehouse: new Pool(base, { connections: 1 }), bare: new Pool(bareBase, { connections: 1 }) };
    try {
      const token = await seed(base);
      const auth = { authorization: `Bearer ${token}` };

      const latency = await sequential({ pool: pools.bare, path: '/svc/items/42', headers: auth }, { pool: pools.gatehouse, path: '/svc/items/42', headers: auth }, 1);
      const ttfb = await sequential({ pool: pools.bare, path: '/svc/events', headers: auth }, { pool: pools.gatehouse, path: '/svc/events', headers: auth }, 0);

      const post = { method: 'POST', body: BODY, connections: THROUGHPUT_CONNECTIONS };
      const headers = { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` };
      const urls = { direct: `${serviceUrl}/items`, gatehouse: `${base}/svc/items`, bare: `${bareBase}/svc/items` };
      for (const url of Object.values(urls)) await load(url, headers, WARMUP_S, undefined, post);
      const rounds = [];
      for (let i = 0; i < ROUNDS; i++) {
        const bareRound = await measuredLoad(urls.bare, headers, bare.child.pid!, post);
        const gatehouseRound = await measuredLoad(urls.gatehouse, headers, gatehouse.child.pid!, post);
        const directRound = await load(urls.direct, headers, DURATION_S, undefined, post);
        rounds.push({
          bare: bareRound,
          gatehouse: gatehouseRound,
          direct: directRound,
          ratio: gatehouseRound.requestsPerSecond / bareRound.requestsPerSecond,
          cpuRatio: gatehouseRound.cpuUsPerRequest / bareRound.cpuUsPerRequest,
          directRatio: gatehouseRound.requestsPerSecond / directRound.requestsPerSecond,
        });
      }
      const throughput = median(rounds, (r) => r.ratio);
      const cpu = median(rounds, (r) => r.cpuRatio);
      const together = await sideBySide(
        { url: urls.gatehouse, headers, request: post, pid: gatehouse.child.pid! },
        { url: urls.bare, headers, request: post, pid: bare.child.pid! },
        ROUNDS,
        DURATION_S,
      );

      const slow = { connections: REALISTIC_CONNECTIONS };
      // The frameworkless proxy runs this load too: what any Node proxy reaches here, beside the target;
      // and nginx when it is installed: what a proxy written in C reaches on this machine.
      const slowUrls = { direct: `${serviceUrl}/slow`, gatehouse: `${base}/svc/slow`, bare: `${bareBase}/svc/slow` };
      await load(slowUrls.gatehouse, headers, WARMUP_S, undefined, slow);
      await load(slowUrls.bare, headers, WARMUP_S, undefined, slow);
      const nginx = await startNginx(serviceUrl, '/svc', dataDir);
      if (nginx) await load(`${nginx.url}/svc/slow`, headers, WARMUP_S, undefined, slow);
      // No prefix to strip: the relay passes bytes, so it is loaded on the service's own path.
      const relayUrl = `http://127.0.0.1:${/listening (\d+)/.exec(relay.output())![1]}/slow`;
      await load(relayUrl, headers, WARMUP_S, undefined, slow);
      const realisticRounds: Array<{ direct: LoadResult; gatehouse: LoadResult; bare: LoadResult; relay: LoadResult; nginx?: LoadResult; ratio: number; addedP99Ms: number; bareRatio: number; bareAddedP99Ms: number }> = [];
      for (let i = 0; i < ROUNDS; i++) {
        const directRound = await load(slowUrls.direct, headers, DURATION_S, undefined, slow);
        const gatehouseRound = await load(slowUrls.gatehouse, headers, DURATION_S, gatehouse.child.pid, slow);
        const bareRound = await load(slowUrls.bare, headers, DURATION_S, bare.child.pid, slow);
        const nginxRound = nginx ? await load(`${nginx.url}/svc/slow`, headers, DURATION_S, undefined, slow) : undefined;
        const relayRound = await load(relayUrl, headers, DURATION_S, relay.child.pid, slow);
        realisticRounds.push({
          relay: relayRound,
          nginx: nginxRound,
          direct: directRound,
          gatehouse: gatehouseRound,
          bare: bareRound,
          ratio: gatehouseRound.requestsPerSecond / directRound.requestsPerSecond,
          addedP99Ms: gatehouseRound.p99Ms - directRound.p99Ms,
          bareRatio: bareRound.requestsPerSecond / directRound.requestsPerSecond,
          bareAddedP99Ms: bareRound.p99Ms - directRound.p99Ms,
        });
      }
      await nginx?.stop();
      const realistic = median(realisticRounds, (r) => r.ratio);
      const realisticBare = median(realisticRounds, (r) => r.bareRatio);
      const nginxRatio = (r: (typeof realisticRounds)[number]) => (r.nginx ? r.nginx.requestsPerSecond / r.direct.requestsPerSecond : 0);
      const realisticNginx = nginx ? median(realisticRounds, nginxRatio) : undefined;
      const relayRatio = (r: (typeof realisticRounds)[number]) => r.relay.requestsPerSecond / r.direct.requestsPerSecond;
      const realisticRelay = median(realisticRounds, relayRatio);

      const report = {
        date: new Date().toISOString(),
        node: process.version,
        sequentialRequests: SEQUENTIAL,
        sequentialWarmup: SEQUENTIAL_WARMUP,
        latencyAtConcurrency1OverFrameworkless: latency,
        streamingTimeToFirstByteOverFrameworkless: ttfb,
        throughputAt20: {
          rounds: rounds.map((r) => ({
            frameworklessRps: Math.round(r.bare.requestsPerSecond),
            gatehouseRps: Math.round(r.gatehouse.requestsPerSecond),
            directRps: Math.round(r.direct.requestsPerSecond),
            ratio: round(r.ratio),
            frameworklessCpuUsPerRequest: r.bare.cpuUsPerRequest,
            gatehouseCpuUsPerRequest: r.gatehouse.cpuUsPerRequest,
            cpuRatio: round(r.cpuRatio),
            gatehouseNon2xx: r.gatehouse.non2xx,
          })),
          ratio: round(throughput.ratio),
          cpuRatio: round(cpu.cpuRatio),
          shareOfDirect: round(throughput.directRatio),
          gatehouse: throughput.gatehouse,
          sideBySide: together,
        },
        realisticAt200: {
          rounds: realisticRounds.map((r) => ({
            directRps: Math.round(r.direct.requestsPerSecond),
            gatehouseRps: Math.round(r.gatehouse.requestsPerSecond),
            frameworklessRps: Math.round(r.bare.requestsPerSecond),
            ratio: round(r.ratio),
            frameworklessRatio: round(r.bareRatio),
            directP99Ms: r.direct.p99Ms,
            gatehouseP99Ms: r.gatehouse.p99Ms,
            frameworklessP99Ms: r.bare.p99Ms,
            byteRelayRps: Math.round(r.relay.requestsPerSecond),
            byteRelayRatio: round(relayRatio(r)),
            byteRelayP99Ms: r.relay.p99Ms,
            ...(r.nginx && { nginxRps: Math.round(r.nginx.requestsPerSecond), nginxRatio: round(nginxRatio(r)), nginxP99Ms: r.nginx.p99Ms }),
          })),
          ratio: round(realistic.ratio),
          addedP99Ms: realistic.addedP99Ms,
          frameworklessRatio: round(realisticBare.bareRatio),
          frameworklessAddedP99Ms: realisticBare.bareAddedP99Ms,
          byteRelayRatio: round(relayRatio(realisticRelay)),
          byteRelayAddedP99Ms: realisticRelay.relay.p99Ms - realisticRelay.direct.p99Ms,
          ...(realisticNginx && { nginxRatio: round(nginxRatio(realisticNginx)), nginxAddedP99Ms: realisticNginx.nginx!.p99Ms - realisticNginx.direct.p99Ms }),
        },
        targets: { ratio: '>= 0.8', cpuRatio: '<= 1.25', addedP50Ms: '<= 0.15', addedP99Ms: '<= 1', ttfbAddedP50Ms: '<= 1', realisticRatio: '>= 0.95', realisticAddedP99Ms: '<= 5' },
        pass: {
          ratio: throughput.ratio >= 0.8,
          cpuRatio: cpu.cpuRatio <= 1.25,
          addedP50: latency.addedP50Ms <= 0.15,
          addedP99: latency.addedP99Ms <= 1,
          ttfbAddedP50: ttfb.addedP50Ms <= 1,
          realisticRatio: realistic.ratio >= 0.95,
          realisticAddedP99: realistic.addedP99Ms <= 5,
          no429s: rounds.every((r) => r.gatehouse.non2xx === 0),
        },
      };
      mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
      writeFileSync(join(ROOT, 'bench/results/proxy.json'), `${JSON.stringify(report, null, 2)}\n`);
      process.stdout.write(
        [
          `proxy route, 20 connections:   frameworkless ${Math.round(throughput.bare.requestsPerSecond)} req/s, gatehouse ${Math.round(throughput.gatehouse.requestsPerSecond)} req/s (p99 ${throughput.gatehouse.p99Ms} ms), direct ${Math.round(throughput.direct.requestsPerSecond)} req/s`,
          `  ratio to frameworkless:      ${report.throughputAt20.ratio} (target ≥ 0.8; median of ${ROUNDS} alternating rounds: ${report.throughputAt20.rounds.map((r) => r.ratio).join(', ')})`,
          `  main-thread CPU/request:     gatehouse ${cpu.gatehouse.cpuUsPerRequest} µs, frameworkless ${cpu.bare.cpuUsPerRequest} µs → ${report.throughputAt20.cpuRatio}× (target ≤ 1.25)`,
          `  side by side (both loaded at once): ratio ${together.ratio}, main-thread CPU ${together.cpuRatio}× (medians of ${ROUNDS} rounds: ${together.rounds.map((r) => `${r.ratio}/${r.cpuRatio}×`).join(', ')})`,
          `  share of direct:             ${report.throughputAt20.shareOfDirect} (earlier figure, for continuity)`,
          `concurrency 1, over frameworkless: p50 ${latency.baseP50Ms} → ${latency.p50Ms} ms, added ${latency.addedP50Ms} ms (target ≤ 0.15); p99 ${latency.baseP99Ms} → ${latency.p99Ms} ms, added ${latency.addedP99Ms} ms (target ≤ 1)`,
          `streaming first byte, c=1:     frameworkless p50 ${ttfb.baseP50Ms} ms, gatehouse ${ttfb.p50Ms} ms, added ${ttfb.addedP50Ms} ms (target ≤ 1)`,
          `service answering in 50 ms, 200 connections: direct ${Math.round(realistic.direct.requestsPerSecond)} req/s p99 ${realistic.direct.p99Ms} ms; gatehouse ${Math.round(realistic.gatehouse.requestsPerSecond)} req/s p99 ${realistic.gatehouse.p99Ms} ms`,
          `  ratio ${report.realisticAt200.ratio} (target ≥ 0.95), p99 added ${realistic.addedP99Ms} ms (target ≤ 5); rounds ${realisticRounds.map((r) => round(r.ratio)).join(', ')}`,
          `  frameworkless proxy, same load: ${Math.round(realisticBare.bare.requestsPerSecond)} req/s p99 ${realisticBare.bare.p99Ms} ms → ratio ${report.realisticAt200.frameworklessRatio}, p99 added ${realisticBare.bareAddedP99Ms} ms; rounds ${realisticRounds.map((r) => round(r.bareRatio)).join(', ')}`,
          `  Node byte relay (no HTTP parsed), same load: ${Math.round(realisticRelay.relay.requestsPerSecond)} req/s p99 ${realisticRelay.relay.p99Ms} ms → ratio ${round(relayRatio(realisticRelay))}, p99 added ${realisticRelay.relay.p99Ms - realisticRelay.direct.p99Ms} ms; rounds ${realisticRounds.map((r) => round(relayRatio(r))).join(', ')}`,
          ...(realisticNginx
            ? [`  nginx (one worker), same load: ${Math.round(realisticNginx.nginx!.requestsPerSecond)} req/s p99 ${realisticNginx.nginx!.p99Ms} ms → ratio ${round(nginxRatio(realisticNginx))}, p99 added ${realisticNginx.nginx!.p99Ms - realisticNginx.direct.p99Ms} ms; rounds ${realisticRounds.map((r) => round(nginxRatio(r))).join(', ')}`]
            : ['  nginx: not installed (apt-get install nginx to see what a proxy written in C reaches here)']),
          `pass: ${JSON.stringify(report.pass)}`,
          '',
        ].join('\n'),
      );
    } finally {
      await Promise.all(Object.values(pools).map((pool) => pool.close()));
      await stop(gatehouse.child);
      await stop(bare.child);
      await stop(relay.child);
      await stop(service.child);
    }
  } finally {
    if (!process.env.BENCH_KEEP) rmSync(dataDir, { recursive: true, force: true });
    else process.stderr.write(`kept ${dataDir}\n`);
  }
}

runBenchmark(main);
