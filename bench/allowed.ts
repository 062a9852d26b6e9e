/**
 * `npm run bench:allowed` (and the second half of `npm run bench`): `POST /api/v4/internal/allowed` as
 * GitLab Shell sends it before a clone over SSH (shell JWT → key → user → project → access level) on
 * SQLite, against the bare Koa route in the same run, at 50 connections (target ≥ 40 % of bare, p99 ≤
 * 10 ms). For context, the same bare route taking the same POST body is measured too (reading a
 * request body is a fixed cost of every POST, which the GET baseline does not pay). Then the cost of verifying the shell JWT alone: gatehouse's node:crypto check against jose's
 * `jwtVerify` (WebCrypto), in µs per token.
 *
 * With `BENCH_COMPARE=/path/to/other/checkout` (built), the other build is booted, seeded and loaded in
 * the same rounds, and the report adds its figures and this checkout's req/s over its, round by round;
 * then both builds are loaded at the same time for as many rounds (see `loadSideBySide`).
 *
 * The /allowed rate limit stays on, raised far above what the run sends, so the figures are the
 * check's and the limiter's cost, never its 429s.
 */
import { createHmac, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jwtVerify } from 'jose';
import { createShellJwtVerifier } from '../plugins/internal-api/shell-jwt.js';
import type { ChildProcess } from 'node:child_process';
import { BUILDS, CONNECTIONS, DURATION_S, ROOT, ROUNDS, WARMUP_S, api, createBenchUser, freePort, inRoundOrder, load, loadSideBySide, comparedRounds, median, startProcess, stop, type Build, type LoadResult, runBenchmark, NODE_FLAGS } from './lib.js';

const ROOT_TOKEN = 'glpat-bench-root-token-000000000000';
/** A run sends well under this per minute; the limiter still runs on every request. */
const RATE_LIMIT = 100_000_000;
const VERIFY_ITERATIONS = Number(process.env.BENCH_VERIFY_ITERATIONS ?? 200_000);

/** An HS256 JWT as GitLab Shell mints it, but valid for `lifetimeS` so it outlives the run. */
function shellJwt(secret: string, lifetimeS: number): string {
  const now = Math.floor(Date.now() / 1000);
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${part({ typ: 'JWT', alg: 'HS256' })}.${part({ jti: randomUUID(), iss: 'gitlab-shell', iat: now, nbf: now - 5, exp: now + lifetimeS })}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** An OpenSSH ed25519 public key line: `ssh-ed25519 base64(string("ssh-ed25519") string(pub))`. */
function ed25519KeyLine(): string {
  const der = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' });
  const withLength = (bytes: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return Buffer.concat([length, bytes]);
  };
  const blob = Buffer.concat([withLength(Buffer.from('ssh-ed25519')), withLength(der.subarray(der.length - 32))]);
  return `ssh-ed25519 ${blob.toString('base64')} bench@gatehouse`;
}


/** A user with an SSH key and a private project of their own, made through the API as an operator would. */
async function seed(base: string) {
  const { user, token } = await createBenchUser(base, ROOT_TOKEN, ['api']);
  const key = await api(base, ROOT_TOKEN, 'POST', `/api/v4/users/${user.id}/keys`, { title: 'bench', key: ed25519KeyLine() });
  const project = await api(base, token, 'POST', '/api/v4/projects', { name: 'Bench Project', path: 'bench-project', visibility: 'private' });
  return { username: user.username, keyId: key.id as number, projectPath: project.path_with_namespace as string };
}

/** µs per call of `fn` over `iterations` calls, after a warm-up. */
async function timePerOp(iterations: number, fn: () => unknown): Promise<number> {
  for (let i = 0; i < Math.min(10_000, iterations); i++) await fn();
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await fn();
  return Number(process.hrtime.bigint() - started) / 1e3 / iterations;
}

async function verifyCost(secret: string) {
  const token = shellJwt(secret, 3600);
  const key = new TextEncoder().encode(secret);
  const now = Math.floor(Date.now() / 1000);
  // The verifier as the strategy holds it: built once per secret. Distinct tokens measure the full
  // check (GitLab Shell's tokens differ from one second to the next); one token measures a repeat.
  const verifyShellJwt = createShellJwtVerifier(secret);
  if (!verifyShellJwt(token, now)) throw new Error('verifyShellJwt refused the bench token');
  const distinct = Array.from({ length: 2_000 }, () => shellJwt(secret, 3600));
  let next = 0;
  const gatehouseUs = await timePerOp(VERIFY_ITERATIONS, () => verifyShellJwt(distinct[next++ % distinct.length], now));
  const repeatUs = await timePerOp(VERIFY_ITERATIONS, () => verifyShellJwt(token, now));
  const joseUs = await timePerOp(Math.min(VERIFY_ITERATIONS, 50_000), () =>
    jwtVerify(token, key, { algorithms: ['HS256'], issuer: 'gitlab-shell', clockTolerance: 60 }),
  );
  return { verifyShellJwtUs: round(gatehouseUs, 2), verifyRepeatUs: round(repeatUs, 2), joseJwtVerifyUs: round(joseUs, 2), joseOverGatehouse: round(joseUs / gatehouseUs, 1) };
}

const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;

/** One gatehouse build, booted on its own data directory and port, seeded, with its /allowed request. */
interface Target {
  build: Build;
  child: ChildProcess;
  url: string;
  headers: Record<string, string>;
  body: string;
  secret: string;
  username: string;
  rounds: LoadResult[];
}

async function boot(build: Build, dataDir: string): Promise<Target> {
  mkdirSync(dataDir, { recursive: true });
  const port = await freePort();
  const env = {
    GATEHOUSE_DATA_DIR: dataDir,
    GATEHOUSE_SERVER__PORT: String(port),
    GATEHOUSE_ROOT_TOKEN: ROOT_TOKEN,
    GATEHOUSE_PLUGINS__INTERNAL_API__ALLOWED_RATE_LIMIT: String(RATE_LIMIT),
    NODE_ENV: 'production',
  };
  const { child } = await startProcess(process.execPath, [...NODE_FLAGS, join(build.root, 'dist/core/main.js'), 'start'], env, /gatehouse listening on/, join(dataDir, 'gatehouse.log'), build.root);
  const base = `http://127.0.0.1:${port}`;
  const secret = readFileSync(join(dataDir, '.gitlab_shell_secret'), 'utf8').trim();
  const { username, keyId, projectPath } = await seed(base);
  const body = JSON.stringify({ action: 'git-upload-pack', key_id: String(keyId), project: `${projectPath}.git`, protocol: 'ssh', changes: '_any' });
  const headers = { 'Gitlab-Shell-Api-Request': shellJwt(secret, 3600), 'Content-Type': 'application/json' };
  const url = `${base}/api/v4/internal/allowed`;
  const probe = await fetch(url, { method: 'POST', headers, body });
  const probeBody = await probe.text();
  if (probe.status !== 200 || !JSON.parse(probeBody).status) throw new Error(`/allowed (${build.label}) answered ${probe.status}: ${probeBody}`);
  return { build, child, url, headers, body, secret, username, rounds: [] };
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-allowed-'));
  const targets: Target[] = [];
  try {
    for (const [index, build] of BUILDS.entries()) targets.push(await boot(build, join(dataDir, `build-${index}`)));
    const bare = await startProcess(process.execPath, [...NODE_FLAGS, '--import', 'tsx', join(ROOT, 'bench/bare-koa.ts')], { PORT: String(await freePort()) }, /listening \d+/, join(dataDir, 'bare.log'));
    const barePort = /listening (\d+)/.exec(bare.output())![1];
    try {
      const bareUrl = `http://127.0.0.1:${barePort}/bare`;
      const [measured, ...others] = targets;
      const bareBody = { method: 'POST', body: measured.body };
      const postOf = (target: Target) => ({ method: 'POST', body: target.body });

      await load(bareUrl, {}, WARMUP_S);
      for (const target of targets) await load(target.url, target.headers, WARMUP_S, undefined, postOf(target));
      const bareRounds: LoadResult[] = [];
      const barePostRounds: LoadResult[] = [];
      for (let index = 0; index < ROUNDS; index++) {
        bareRounds.push(await load(bareUrl, {}, DURATION_S, bare.child.pid));
        for (const target of inRoundOrder(targets, index)) target.rounds.push(await load(target.url, target.headers, DURATION_S, target.child.pid, postOf(target)));
        barePostRounds.push(await load(bareUrl, { 'Content-Type': 'application/json' }, DURATION_S, bare.child.pid, bareBody));
      }
      /** The figures of one build: its median round (by ratio to the bare route of the same round). */
      const figures = (target: Target) => {
        const ratios = target.rounds.map((result, i) => result.requestsPerSecond / bareRounds[i].requestsPerSecond);
        const medianRatio = median(ratios);
        const index = ratios.indexOf(medianRatio);
        return {
          root: target.build.root,
          request: { method: 'POST', path: '/api/v4/internal/allowed', body: JSON.parse(target.body), user: target.username },
          rounds: target.rounds.map((result, i) => ({
            bareRps: Math.round(bareRounds[i].requestsPerSecond),
            allowedRps: Math.round(result.requestsPerSecond),
            allowedP99Ms: result.p99Ms,
            allowedNon2xx: result.non2xx,
            barePostRps: Math.round(barePostRounds[i].requestsPerSecond),
            ratio: round(ratios[i]),
            ratioToBarePost: round(result.requestsPerSecond / barePostRounds[i].requestsPerSecond),
          })),
          bareKoa: bareRounds[index],
          bareKoaPostWithBody: barePostRounds[index],
          allowed: { ...target.rounds[index], peakRssMb: Math.max(...target.rounds.map((r) => r.peakRssMb ?? 0)) },
          ratio: round(medianRatio),
          cpuUsPerRequest: median(target.rounds.map((result) => result.cpuUsPerRequest ?? 0)),
          ratioToBarePost: round(target.rounds[index].requestsPerSecond / barePostRounds[index].requestsPerSecond),
          no429s: target.rounds.every((r) => r.non2xx === 0),
        };
      };
      const own = figures(measured);
      // Then every build at once, round by round: their ratio holds while the machine's load moves.
      const sideBySide: LoadResult[][] = [];
      if (others.length > 0) {
        for (let index = 0; index < ROUNDS; index++) {
          sideBySide.push(await loadSideBySide(targets.map((target) => ({ url: target.url, headers: target.headers, request: postOf(target), pid: target.child.pid })), DURATION_S));
        }
      }
      const compared = others.map((other, i) => {
        return { ...figures(other), ...comparedRounds(measured.rounds, other.rounds, sideBySide, i + 1) };
      });
      const verify = await verifyCost(measured.secret);
      const report = {
        date: new Date().toISOString(),
        node: process.version,
        connections: CONNECTIONS,
        durationSeconds: DURATION_S,
        ...own,
        compared,
        jwtVerify: verify,
        targets: { ratio: '>= 0.40', p99Ms: '<= 10' },
        pass: {
          ratio: own.ratio >= 0.4,
          p99: own.allowed.p99Ms <= 10,
          no429s: own.no429s,
        },
      };
      mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
      writeFileSync(join(ROOT, 'bench/results/allowed.json'), `${JSON.stringify(report, null, 2)}\n`);
      process.stdout.write(
        [
          `bare Koa route:                ${Math.round(own.bareKoa.requestsPerSecond)} req/s, p99 ${own.bareKoa.p99Ms} ms`,
          `POST /internal/allowed:        ${Math.round(own.allowed.requestsPerSecond)} req/s, p99 ${own.allowed.p99Ms} ms, non-2xx ${own.allowed.non2xx}, server CPU ${own.cpuUsPerRequest} µs/request`,
          `ratio:                         ${own.ratio} (target ≥ 0.40; median of ${ROUNDS} alternating rounds: ${own.rounds.map((r) => r.ratio).join(', ')})`,
          `bare Koa POST with JSON body:  ${Math.round(own.bareKoaPostWithBody.requestsPerSecond)} req/s (context only: /allowed at ${own.ratioToBarePost} of it)`,
          ...compared.map(
            (other) =>
              `A/B against ${other.root}: its ratio ${other.ratio} (rounds ${other.rounds.map((r) => r.ratio).join(', ')}), p99 ${other.allowed.p99Ms} ms, ` +
              `peak RSS ${other.allowed.peakRssMb} MB; this checkout's req/s over its: ${other.thisOverCompared} (rounds ${other.thisOverComparedRounds.join(', ')}); ` +
              `side by side: ${other.sideBySide.thisOverCompared} (rounds ${other.sideBySide.rounds.map((r) => r.thisOverOther).join(', ')}); ` +
              `server CPU per request: ${other.cpuUsPerRequest.this} µs here, ${other.cpuUsPerRequest.other} µs there (medians over all rounds)`,
          ),
          `shell JWT verify alone:        ${verify.verifyShellJwtUs} µs/op (node:crypto HMAC; a repeated token ${verify.verifyRepeatUs} µs); jose jwtVerify HS256 ${verify.joseJwtVerifyUs} µs/op (${verify.joseOverGatehouse}×)`,
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
