/**
 * `npm run bench:allowed` (and the second half of `npm run bench`): `POST /api/v4/internal/allowed` as
 * GitLab Shell sends it before a clone over SSH (shell JWT → key → user → project → access level) on
 * SQLite, against the bare Koa route in the same run, at 50 connections (target ≥ 40 % of bare, p99 ≤
 * 10 ms). For context, the same bare route taking the same POST body is measured too (reading a
 * request body is a fixed cost of every POST, which the GET baseline does not pay). Then the cost of verifying the shell JWT alone: gatehouse's node:crypto check against jose's
 * `jwtVerify` (WebCrypto), in µs per token.
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
import { CONNECTIONS, DURATION_S, ROOT, ROUNDS, WARMUP_S, freePort, load, startProcess, stop, type LoadResult } from './lib.js';

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

async function api(base: string, token: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status >= 300) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
  return JSON.parse(text);
}

/** A user with an SSH key and a private project of their own, made through the API as an operator would. */
async function seed(base: string) {
  const username = `bench${Date.now().toString(36)}`;
  const user = await api(base, ROOT_TOKEN, 'POST', '/api/v4/users', {
    username,
    name: 'Bench User',
    email: `${username}@example.com`,
    password: 'correct-horse-battery-staple',
  });
  const key = await api(base, ROOT_TOKEN, 'POST', `/api/v4/users/${user.id}/keys`, { title: 'bench', key: ed25519KeyLine() });
  const pat = await api(base, ROOT_TOKEN, 'POST', `/api/v4/users/${user.id}/personal_access_tokens`, {
    name: 'bench',
    scopes: ['api'],
    expires_at: new Date(Date.now() + 86_400_000 * 30).toISOString().slice(0, 10),
  });
  const project = await api(base, pat.token, 'POST', '/api/v4/projects', { name: 'Bench Project', path: 'bench-project', visibility: 'private' });
  return { username, keyId: key.id as number, projectPath: project.path_with_namespace as string };
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

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-allowed-'));
  const port = await freePort();
  const gatehouseEnv = {
    GATEHOUSE_DATA_DIR: dataDir,
    GATEHOUSE_SERVER__PORT: String(port),
    GATEHOUSE_ROOT_TOKEN: ROOT_TOKEN,
    GATEHOUSE_PLUGINS__INTERNAL_API__ALLOWED_RATE_LIMIT: String(RATE_LIMIT),
    NODE_ENV: 'production',
  };
  try {
    const gatehouse = await startProcess(process.execPath, [join(ROOT, 'dist/core/main.js'), 'start'], gatehouseEnv, /gatehouse listening on/, join(dataDir, 'gatehouse.log'));
    const bare = await startProcess(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/bare-koa.ts')], { PORT: String(await freePort()) }, /listening \d+/, join(dataDir, 'bare.log'));
    const barePort = /listening (\d+)/.exec(bare.output())![1];
    try {
      const base = `http://127.0.0.1:${port}`;
      const secret = readFileSync(join(dataDir, '.gitlab_shell_secret'), 'utf8').trim();
      const { username, keyId, projectPath } = await seed(base);
      const body = JSON.stringify({ action: 'git-upload-pack', key_id: String(keyId), project: `${projectPath}.git`, protocol: 'ssh', changes: '_any' });
      const headers = { 'Gitlab-Shell-Api-Request': shellJwt(secret, 3600), 'Content-Type': 'application/json' };
      const allowedUrl = `${base}/api/v4/internal/allowed`;
      const bareUrl = `http://127.0.0.1:${barePort}/bare`;
      const post = { method: 'POST', body };

      const probe = await fetch(allowedUrl, { method: 'POST', headers, body });
      const probeBody = await probe.text();
      if (probe.status !== 200 || !JSON.parse(probeBody).status) throw new Error(`/allowed answered ${probe.status}: ${probeBody}`);

      await load(bareUrl, {}, WARMUP_S);
      await load(allowedUrl, headers, WARMUP_S, undefined, post);
      const rounds: Array<{ bare: LoadResult; allowed: LoadResult; barePost: LoadResult; ratio: number; ratioToBarePost: number }> = [];
      for (let round = 0; round < ROUNDS; round++) {
        const bareRound = await load(bareUrl, {}, DURATION_S, bare.child.pid);
        const allowedRound = await load(allowedUrl, headers, DURATION_S, gatehouse.child.pid, post);
        const barePostRound = await load(bareUrl, { 'Content-Type': 'application/json' }, DURATION_S, bare.child.pid, post);
        rounds.push({
          bare: bareRound,
          allowed: allowedRound,
          barePost: barePostRound,
          ratio: allowedRound.requestsPerSecond / bareRound.requestsPerSecond,
          ratioToBarePost: allowedRound.requestsPerSecond / barePostRound.requestsPerSecond,
        });
      }
      const median = [...rounds].sort((a, b) => a.ratio - b.ratio)[Math.floor(rounds.length / 2)];
      const verify = await verifyCost(secret);
      const report = {
        date: new Date().toISOString(),
        node: process.version,
        connections: CONNECTIONS,
        durationSeconds: DURATION_S,
        request: { method: 'POST', path: '/api/v4/internal/allowed', body: JSON.parse(body), user: username },
        rounds: rounds.map((r) => ({
          bareRps: Math.round(r.bare.requestsPerSecond),
          allowedRps: Math.round(r.allowed.requestsPerSecond),
          allowedP99Ms: r.allowed.p99Ms,
          allowedNon2xx: r.allowed.non2xx,
          barePostRps: Math.round(r.barePost.requestsPerSecond),
          ratio: round(r.ratio),
          ratioToBarePost: round(r.ratioToBarePost),
        })),
        bareKoa: median.bare,
        bareKoaPostWithBody: median.barePost,
        allowed: { ...median.allowed, peakRssMb: Math.max(...rounds.map((r) => r.allowed.peakRssMb ?? 0)) },
        ratio: round(median.ratio),
        ratioToBarePost: round(median.ratioToBarePost),
        jwtVerify: verify,
        targets: { ratio: '>= 0.40', p99Ms: '<= 10' },
        pass: {
          ratio: median.ratio >= 0.4,
          p99: median.allowed.p99Ms <= 10,
          no429s: rounds.every((r) => r.allowed.non2xx === 0),
        },
      };
      mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
      writeFileSync(join(ROOT, 'bench/results/allowed.json'), `${JSON.stringify(report, null, 2)}\n`);
      process.stdout.write(
        [
          `bare Koa route:                ${Math.round(median.bare.requestsPerSecond)} req/s, p99 ${median.bare.p99Ms} ms`,
          `POST /internal/allowed:        ${Math.round(median.allowed.requestsPerSecond)} req/s, p99 ${median.allowed.p99Ms} ms, non-2xx ${median.allowed.non2xx}`,
          `ratio:                         ${report.ratio} (target ≥ 0.40; median of ${ROUNDS} alternating rounds: ${report.rounds.map((r) => r.ratio).join(', ')})`,
          `bare Koa POST with JSON body:  ${Math.round(median.barePost.requestsPerSecond)} req/s (context only: /allowed at ${report.ratioToBarePost} of it)`,
          `shell JWT verify alone:        ${verify.verifyShellJwtUs} µs/op (node:crypto HMAC; a repeated token ${verify.verifyRepeatUs} µs); jose jwtVerify HS256 ${verify.joseJwtVerifyUs} µs/op (${verify.joseOverGatehouse}×)`,
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
