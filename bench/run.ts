/**
 * `npm run bench`: measures gatehouse against a bare Koa + @koa/router route in one run, with the load
 * generator (autocannon) in its own process so it does not share an event loop with either server.
 *
 * Figures: requests/s and p99 at 50 connections for `GET /api/v4/personal_access_tokens/self` with a
 * PAT on SQLite (target ≥ 50 % of bare, p99 ≤ 10 ms), boot-to-listening on an existing database
 * (target ≤ 1.5 s), and the gateway's peak RSS under that load (target ≤ 150 MB).
 *
 * With `BENCH_COMPARE=/path/to/other/checkout` (built), the other build is booted and loaded in the
 * same rounds, and the report adds its figures and this checkout's req/s over its, round by round;
 * then both builds are loaded at the same time for as many rounds (see `loadSideBySide`), the figure
 * to trust on a busy machine.
 */
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { BUILDS, CONNECTIONS, DURATION_S, ROOT, ROUNDS, WARMUP_S, freePort, inRoundOrder, load, loadSideBySide, comparedRounds, median, startProcess, stop, type Build, type LoadResult, runBenchmark, NODE_FLAGS } from './lib.js';

const ROOT_TOKEN = 'glpat-bench-root-token-000000000000';

/** One gatehouse build, booted on its own data directory and port. */
interface Target {
  build: Build;
  child: ChildProcess;
  bootMs: number;
  url: string;
  rounds: LoadResult[];
}

async function boot(build: Build, dataDir: string): Promise<Target> {
  mkdirSync(dataDir, { recursive: true });
  const port = await freePort();
  const env = { GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_SERVER__PORT: String(port), GATEHOUSE_ROOT_TOKEN: ROOT_TOKEN, NODE_ENV: 'production' };
  const args = [...NODE_FLAGS, join(build.root, 'dist/core/main.js'), 'start'];
  const listening = /gatehouse listening on/;
  // First boot creates and migrates the database; the measured boot is the second, on an existing one.
  const first = await startProcess(process.execPath, args, env, listening, join(dataDir, 'first-boot.log'), build.root);
  await stop(first.child);
  const { child, bootMs } = await startProcess(process.execPath, args, env, listening, join(dataDir, 'gatehouse.log'), build.root);
  return { build, child, bootMs, url: `http://127.0.0.1:${port}/api/v4/personal_access_tokens/self`, rounds: [] };
}

const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
  const targets: Target[] = [];
  try {
    for (const [index, build] of BUILDS.entries()) targets.push(await boot(build, join(dataDir, `build-${index}`)));
    const bare = await startProcess(process.execPath, [...NODE_FLAGS, '--import', 'tsx', join(ROOT, 'bench/bare-koa.ts')], { PORT: String(await freePort()) }, /listening \d+/, join(dataDir, 'bare.log'));
    const barePort = /listening (\d+)/.exec(bare.output())![1];
    try {
      const bareUrl = `http://127.0.0.1:${barePort}/bare`;
      const auth = { Authorization: `Bearer ${ROOT_TOKEN}` };
      for (const target of targets) {
        const probe = await fetch(target.url, { headers: auth });
        if (probe.status !== 200) throw new Error(`gatehouse (${target.build.label}) answered ${probe.status}: ${await probe.text()}`);
      }

      await load(bareUrl, {}, WARMUP_S);
      for (const target of targets) await load(target.url, auth, WARMUP_S);
      const bareRounds: LoadResult[] = [];
      for (let index = 0; index < ROUNDS; index++) {
        bareRounds.push(await load(bareUrl, {}, DURATION_S, bare.child.pid));
        for (const target of inRoundOrder(targets, index)) target.rounds.push(await load(target.url, auth, DURATION_S, target.child.pid));
      }
      const ratios = (target: Target) => target.rounds.map((result, index) => result.requestsPerSecond / bareRounds[index].requestsPerSecond);
      /** The figures of one build: its median round (by ratio to the bare route of the same round). */
      const figures = (target: Target) => {
        const medianRatio = median(ratios(target));
        const index = ratios(target).indexOf(medianRatio);
        return {
          root: target.build.root,
          rounds: target.rounds.map((result, i) => ({
            bareRps: Math.round(bareRounds[i].requestsPerSecond),
            gatehouseRps: Math.round(result.requestsPerSecond),
            gatehouseP99Ms: result.p99Ms,
            ratio: round(ratios(target)[i]),
          })),
          bareKoa: bareRounds[index],
          patSelf: { ...target.rounds[index], peakRssMb: Math.max(...target.rounds.map((r) => r.peakRssMb ?? 0)) },
          ratio: round(medianRatio),
          cpuUsPerRequest: median(target.rounds.map((result) => result.cpuUsPerRequest ?? 0)),
          bootToListeningMs: Math.round(target.bootMs),
        };
      };
      const [measured, ...others] = targets;
      const own = figures(measured);
      // Then every build at once, round by round: their ratio holds while the machine's load moves.
      const sideBySide: LoadResult[][] = [];
      if (others.length > 0) {
        for (let index = 0; index < ROUNDS; index++) {
          sideBySide.push(await loadSideBySide(targets.map((target) => ({ url: target.url, headers: auth, pid: target.child.pid })), DURATION_S));
        }
      }
      const compared = others.map((other, i) => {
        return { ...figures(other), ...comparedRounds(measured.rounds, other.rounds, sideBySide, i + 1) };
      });
      const report = {
        date: new Date().toISOString(),
        node: process.version,
        connections: CONNECTIONS,
        durationSeconds: DURATION_S,
        ...own,
        compared,
        targets: {
          ratio: '>= 0.50',
          p99Ms: '<= 10',
          bootMs: '<= 1500',
          rssMb: '<= 150',
        },
        pass: {
          ratio: own.ratio >= 0.5,
          p99: own.patSelf.p99Ms <= 10,
          boot: own.bootToListeningMs <= 1500,
          rss: (own.patSelf.peakRssMb ?? 0) <= 150,
        },
      };
      mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
      writeFileSync(join(ROOT, 'bench/results/latest.json'), `${JSON.stringify(report, null, 2)}\n`);
      process.stdout.write(
        [
          `bare Koa route:                ${Math.round(own.bareKoa.requestsPerSecond)} req/s, p99 ${own.bareKoa.p99Ms} ms`,
          `GET /personal_access_tokens/self: ${Math.round(own.patSelf.requestsPerSecond)} req/s, p99 ${own.patSelf.p99Ms} ms, non-2xx ${own.patSelf.non2xx}, server CPU ${own.cpuUsPerRequest} µs/request`,
          `ratio:                         ${own.ratio} (target ≥ 0.50; median of ${ROUNDS} alternating rounds: ${own.rounds.map((r) => r.ratio).join(', ')})`,
          `boot to listening (existing db): ${own.bootToListeningMs} ms (target ≤ 1500)`,
          `peak RSS under load:           ${own.patSelf.peakRssMb} MB (target ≤ 150)`,
          ...compared.map(
            (other) =>
              `A/B against ${other.root}: its ratio ${other.ratio} (rounds ${other.rounds.map((r) => r.ratio).join(', ')}), p99 ${other.patSelf.p99Ms} ms, ` +
              `peak RSS ${other.patSelf.peakRssMb} MB, boot ${other.bootToListeningMs} ms; this checkout's req/s over its: ${other.thisOverCompared} (rounds ${other.thisOverComparedRounds.join(', ')}); ` +
              `side by side: ${other.sideBySide.thisOverCompared} (rounds ${other.sideBySide.rounds.map((r) => r.thisOverOther).join(', ')}); ` +
              `server CPU per request: ${other.cpuUsPerRequest.this} µs here, ${other.cpuUsPerRequest.other} µs there (medians over all rounds)`,
          ),
          `pass: ${JSON.stringify(report.pass)}`,
          '',
        ].join('\n'),
      );
    } finally {
      await stop(bare.child);
    }
  } finally {
    for (const target of targets) await stop(target.child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

runBenchmark(main);
