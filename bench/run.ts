/**
 * `npm run bench`: measures gatehouse against a bare Koa + @koa/router route in one run, with the load
 * generator (autocannon) in its own process so it does not share an event loop with either server.
 *
 * Figures: requests/s and p99 at 50 connections for `GET /api/v4/personal_access_tokens/self` with a
 * PAT on SQLite (target ≥ 50 % of bare, p99 ≤ 10 ms), boot-to-listening on an existing database
 * (target ≤ 1.5 s), and the gateway's peak RSS under that load (target ≤ 150 MB).
 */
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONNECTIONS, DURATION_S, ROOT, ROUNDS, WARMUP_S, freePort, load, startProcess, stop, type LoadResult } from './lib.js';

const ROOT_TOKEN = 'glpat-bench-root-token-000000000000';

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
