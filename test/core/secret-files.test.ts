import { generateKeyPairSync } from 'node:crypto';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import pino from 'pino';
import { loadConfig } from '../../core/config/loader.js';
import { createSecretStore, SecretFileError } from '../../core/config/secrets.js';
import { UnauthorizedError } from '../../core/errors.js';
import { createStaticFlags } from '../../core/flags/resolver.js';
import { createGateway } from '../../core/gateway.js';
import { registry } from '../../core/plugins/registry.js';
import { shellStrategy } from '../../plugins/internal-api/strategy.js';
import { ROOT_TOKEN, TestClock } from '../helpers/app.js';

// Every secret file the shipped plugins read, in a real data directory: boot refuses empty, blank and
// too short files, naming every one of them at once.

const FILES = {
  recoveryPepper: '.gatehouse_recovery_code_pepper',
  tokenPepper: '.gatehouse_token_pepper',
  shellSecret: '.gitlab_shell_secret',
  gitalyToken: 'gitaly_token',
  lfsSecret: '.gatehouse_lfs_secret',
  instanceId: '.gatehouse_instance_id',
  signingKey: '.gatehouse_oidc_signing_key',
  oauthPepper: '.gatehouse_oauth_application_pepper',
  kasSecret: '.gitlab_kas_secret',
} as const;
type SecretFile = keyof typeof FILES;

const KAS_FORMAT = "must hold the base64 encoding of exactly 32 bytes (GitLab's .gitlab_kas_secret format)";

const dirs: string[] = [];
test.after.always(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A data directory holding `contents` in each named secret file (the others are generated at boot). */
function dataDirWith(contents: Partial<Record<SecretFile, string>>): string {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-secrets-'));
  dirs.push(dataDir);
  for (const [name, value] of Object.entries(contents)) writeFileSync(join(dataDir, FILES[name as SecretFile]), value, { mode: 0o600 });
  return dataDir;
}

function boot(dataDir: string) {
  const config = loadConfig({
    plugins: registry,
    files: false,
    env: {},
    overrides: {
      dataDir,
      rootToken: ROOT_TOKEN,
      db: { client: 'sqlite3', filename: ':memory:' },
      log: { level: 'silent', requests: false },
      plugins: { 'internal-api': { gitalyTokenFile: FILES.gitalyToken } },
    },
  });
  return createGateway({
    config,
    registry,
    flags: createStaticFlags(registry.flatMap((p) => p.flags ?? [])),
    secrets: createSecretStore(dataDir),
    logger: pino({ level: 'silent' }),
  });
}

async function bootProblems(t: any, dataDir: string): Promise<readonly string[]> {
  const error = await t.throwsAsync(boot(dataDir));
  t.true(error instanceof SecretFileError, String(error?.stack));
  return (error as SecretFileError).problems;
}

const every = (value: string) => Object.fromEntries(Object.keys(FILES).map((name) => [name, value])) as Record<SecretFile, string>;

/** The problems of a data directory whose every secret file is empty or blank, in boot order. */
const emptyProblems = (dataDir: string) => [
  `signing: ${join(dataDir, FILES.signingKey)} is empty`,
  `plugins.directory: ${join(dataDir, FILES.recoveryPepper)} is empty; it must hold at least 64 characters`,
  `plugins.tokens: ${join(dataDir, FILES.tokenPepper)} is empty; it must hold at least 64 characters`,
  `plugins.internal-api: ${join(dataDir, FILES.shellSecret)} is empty; it must hold at least 32 characters`,
  `plugins.internal-api: ${join(dataDir, FILES.gitalyToken)} is empty`,
  `plugins.internal-api: ${join(dataDir, FILES.lfsSecret)} is empty; it must hold at least 64 characters`,
  `plugins.code-suggestions: ${join(dataDir, FILES.instanceId)} is empty`,
  `plugins.oauth-applications: ${join(dataDir, FILES.oauthPepper)} is empty; it must hold at least 64 characters`,
  `plugins.kubernetes-agent: ${join(dataDir, FILES.kasSecret)} is empty`,
];

test('every secret file holding only a newline: boot fails naming each of them', async (t) => {
  const dataDir = dataDirWith(every('\n'));
  t.deepEqual(await bootProblems(t, dataDir), emptyProblems(dataDir));
});

test('every secret file holding only whitespace: boot fails naming each of them, as empty', async (t) => {
  const dataDir = dataDirWith(every(' \t\n\n'));
  t.deepEqual(await bootProblems(t, dataDir), emptyProblems(dataDir));
});

test('secret files shorter than gatehouse (or GitLab) generates them: boot fails naming each, with both lengths', async (t) => {
  const weakKey = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const dataDir = dataDirWith({
    recoveryPepper: `${'a'.repeat(63)}\n`,
    tokenPepper: 'b'.repeat(16),
    shellSecret: ` ${'c'.repeat(31)} \n`,
    gitalyToken: 'gitaly-token',
    lfsSecret: 'd'.repeat(63),
    signingKey: weakKey,
    oauthPepper: '0123456789abcdef\n',
    kasSecret: `${Buffer.alloc(16, 7).toString('base64')}\n`,
  });
  t.deepEqual(await bootProblems(t, dataDir), [
    `signing: ${join(dataDir, FILES.signingKey)} must hold an RSA private key of at least 2048 bits`,
    `plugins.directory: ${join(dataDir, FILES.recoveryPepper)} holds 63 characters; it must hold at least 64`,
    `plugins.tokens: ${join(dataDir, FILES.tokenPepper)} holds 16 characters; it must hold at least 64`,
    `plugins.internal-api: ${join(dataDir, FILES.shellSecret)} holds 31 characters; it must hold at least 32`,
    `plugins.internal-api: ${join(dataDir, FILES.lfsSecret)} holds 63 characters; it must hold at least 64`,
    `plugins.oauth-applications: ${join(dataDir, FILES.oauthPepper)} holds 16 characters; it must hold at least 64`,
    `plugins.kubernetes-agent: ${join(dataDir, FILES.kasSecret)} ${KAS_FORMAT}`,
  ]);
});

test('one bad file among good ones is the only problem; a signing key that is not a key is named', async (t) => {
  const dataDir = dataDirWith({ signingKey: 'not a key\n', gitalyToken: 'any non-empty Gitaly token' });
  t.deepEqual(await bootProblems(t, dataDir), [`signing: ${join(dataDir, FILES.signingKey)} must hold an RSA private key (PEM)`]);
});

test('secret files as gatehouse generates them boot, and boot again', async (t) => {
  const dataDir = dataDirWith({ gitalyToken: 'any non-empty Gitaly token' });
  await (await boot(dataDir)).close();
  const again = await boot(dataDir);
  t.is((again.services as any)['internal-api'].internal.shellSecret.length, 32);
  await again.close();
});

const SHELL_AUTH = { strategy: 'gitlab_shell' } as const;

test('an empty secret_token never authenticates, even against an empty shell secret', (t) => {
  const strategy = shellStrategy({ secret: '', legacySecretAuth: true, clock: new TestClock() });
  const presenting = (secretToken: string, header = '') =>
    ({ state: { params: { secret_token: secretToken } }, get: (name: string) => (name === 'Gitlab-Shared-Secret' ? header : '') }) as never;
  t.throws(() => strategy.authenticate(presenting(''), SHELL_AUTH), { instanceOf: UnauthorizedError });
  t.throws(() => strategy.authenticate(presenting('\n'), SHELL_AUTH), { instanceOf: UnauthorizedError });
  const withSecret = shellStrategy({ secret: 'c'.repeat(32), legacySecretAuth: true, clock: new TestClock() });
  t.throws(() => withSecret.authenticate(presenting(''), SHELL_AUTH), { instanceOf: UnauthorizedError });
});

// ---------------------------------------------------------------- the CLI

const MAIN = fileURLToPath(new URL('../../core/main.ts', import.meta.url));
const CONFIG_DIR = fileURLToPath(new URL('../../config', import.meta.url));
const TSX = import.meta.resolve('tsx');

test('gatehouse start exits 2 listing every bad secret file, and does not listen', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'gatehouse-secrets-cli-'));
  dirs.push(cwd);
  cpSync(CONFIG_DIR, join(cwd, 'config'), { recursive: true });
  const dataDir = join(cwd, 'state');
  const env = { PATH: process.env.PATH ?? '', GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_SERVER__PORT: '0', GATEHOUSE_LOG__LEVEL: 'silent' };
  mkdirSync(dataDir);
  writeFileSync(join(dataDir, FILES.shellSecret), '\n');
  writeFileSync(join(dataDir, FILES.tokenPepper), 'short\n');
  const child = spawn(process.execPath, ['--conditions=development', '--import', TSX, MAIN, 'start'], { cwd, env });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((done) => child.once('exit', done));
  t.is(code, 2, stderr);
  t.is(
    stderr,
    [
      'gatehouse: invalid secret files:',
      `  - plugins.tokens: ${join(dataDir, FILES.tokenPepper)} holds 5 characters; it must hold at least 64`,
      `  - plugins.internal-api: ${join(dataDir, FILES.shellSecret)} is empty; it must hold at least 32 characters`,
      '',
    ].join('\n'),
  );
  t.false(stdout.includes('listening'), stdout);
});
